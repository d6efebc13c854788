// Shared by every kernel in kernels/cuda: the backend prepends this file to each op's source
// before NVRTC compiles it. Deliberately no #include: compiling needs only libnvrtc, not a CUDA
// toolkit's include folder, so any machine with a driver and the NVRTC library can build them.
//
// Storage types: f32 = float, f16/bf16 = 16-bit patterns in a struct (converted with PTX `cvt`,
// round-to-nearest-even, as the CPU reference's `half` crate does), u32, i64. Every kernel
// computes in f32 and rounds once when it stores, like the CPU reference.
// Requires sm_80 or newer (bf16 `cvt`, bf16 tensor cores).
//
// `TANDEM_CUDA_SIM` is defined only when the host simulator (crates/tandem-cuda/sim) compiles
// these files with a C++ compiler: it supplies the few operations written here in inline PTX.

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

struct __align__(2) bf16 { u16 bits; };
struct __align__(2) f16 { u16 bits; };

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __uint_as_float(((u32)x.bits) << 16); }
__device__ __forceinline__ float to_f32(f16 x) {
#ifdef TANDEM_CUDA_SIM
    return tandem_sim::f16_bits_to_f32(x.bits);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
#endif
}
__device__ __forceinline__ float to_f32(u32 x) { return (float)x; }
__device__ __forceinline__ float to_f32(i64 x) { return (float)x; }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) {
#ifdef TANDEM_CUDA_SIM
    return bf16{tandem_sim::f32_to_bf16_bits(x)};
#else
    u16 b;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b) : "f"(x));
    return bf16{b};
#endif
}
template <> __device__ __forceinline__ f16 from_f32<f16>(float x) {
#ifdef TANDEM_CUDA_SIM
    return f16{tandem_sim::f32_to_f16_bits(x)};
#else
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return f16{h};
#endif
}
// Float → int truncates toward zero and saturates (NaN → 0), as Rust's `as` does; PTX `cvt.rzi`
// saturates by definition.
template <> __device__ __forceinline__ u32 from_f32<u32>(float x) { return (u32)x; }
template <> __device__ __forceinline__ i64 from_f32<i64>(float x) { return (i64)x; }

#define NEG_INF __int_as_float(0xff800000)

// ----- reductions --------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Reductions across a block of up to 1024 threads (a multiple of 32): warp shuffles, then one
// warp over the per-warp partials in shared memory. Every thread gets the result.
#define BLOCK_REDUCE(NAME, WARP_OP, IDENTITY)                                                    \
    __device__ __forceinline__ float NAME(float v) {                                            \
        __shared__ float partial[32];                                                           \
        __shared__ float result;                                                                \
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                             \
        v = WARP_OP(v);                                                                         \
        if (lane == 0) partial[warp] = v;                                                       \
        __syncthreads();                                                                        \
        if (warp == 0) {                                                                        \
            float p = lane < (int)(blockDim.x >> 5) ? partial[lane] : (IDENTITY);               \
            p = WARP_OP(p);                                                                     \
            if (lane == 0) result = p;                                                          \
        }                                                                                       \
        __syncthreads();                                                                        \
        return result;                                                                          \
    }
BLOCK_REDUCE(block_sum, warp_sum, 0.0f)
BLOCK_REDUCE(block_max, warp_max, NEG_INF)
BLOCK_REDUCE(block_min, warp_min, -NEG_INF)

// ----- activations (same formulas as the CPU reference) ------------------------------------

__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// Activation codes shared with the host (tandem-cuda `ops::unary::activation_code`).
#define ACT_NONE 0
#define ACT_GELU 1
#define ACT_GELU_TANH 2
#define ACT_QUICK_GELU 3
#define ACT_RELU 4
#define ACT_SILU 5
#define ACT_TANH 6

__device__ __forceinline__ float activate(int act, float x) {
    switch (act) {
        case ACT_GELU: return gelu_erf(x);
        case ACT_GELU_TANH: return gelu_tanh(x);
        case ACT_QUICK_GELU: return x * sigmoid(1.702f * x);
        case ACT_RELU: return fmaxf(x, 0.0f);
        case ACT_SILU: return x * sigmoid(x);
        case ACT_TANH: return tanhf(x);
        default: return x;
    }
}

// ----- strided indexing --------------------------------------------------------------------

// A strided view of rank ≤ 8 (the host merges contiguous dims first). Element `i` (row-major
// over `dims`) lives at `offset + Σ idx[d] · strides[d]`.
struct Strides8 {
    u32 rank;
    u32 dims[8];
    u32 a[8];  // strides of operand a (source / lhs)
    u32 b[8];  // strides of operand b (destination / rhs)
};

__device__ __forceinline__ void strided_offsets(const Strides8& s, u32 i, u32& oa, u32& ob) {
    oa = 0;
    ob = 0;
    for (int d = (int)s.rank - 1; d >= 0; --d) {
        const u32 dim = s.dims[d];
        const u32 idx = i % dim;
        i /= dim;
        oa += idx * s.a[d];
        ob += idx * s.b[d];
    }
}

// Grid-stride loop over `n` elements.
#define FOR_EACH(i, n) for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// Instantiates `KERNEL(type, name)` for every float dtype / every dtype.
#define FOR_FLOATS(KERNEL) KERNEL(float, f32) KERNEL(f16, f16) KERNEL(bf16, bf16)
#define FOR_ALL(KERNEL) FOR_FLOATS(KERNEL) KERNEL(u32, u32) KERNEL(i64, i64)
