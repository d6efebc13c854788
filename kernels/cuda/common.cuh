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

// ----- asynchronous copies, fragment loads, tensor-core products (sm_80+) ---------------------
// Shared by the tensor-core matmul and attention kernels. Under TANDEM_CUDA_SIM the simulator
// implements each (crates/tandem-cuda/sim/device.h).

#ifdef TANDEM_CUDA_SIM
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool fill) {
    tandem_sim::cp_async(smem, gmem, 16, fill ? 16 : 0);
}
__device__ __forceinline__ void cp_async_commit() { tandem_sim::cp_async_commit(); }
template <int N> __device__ __forceinline__ void cp_async_wait() { tandem_sim::cp_async_wait(N); }
__device__ __forceinline__ void ldmatrix_x4(u32* r, const void* smem) { tandem_sim::ldmatrix_x4(r, smem, false); }
__device__ __forceinline__ void ldmatrix_x4_trans(u32* r, const void* smem) { tandem_sim::ldmatrix_x4(r, smem, true); }
#else
__device__ __forceinline__ u32 shared_address(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
// 16 bytes global → shared, bypassing L1; `fill` false writes 16 zero bytes (src-size 0).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool fill) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
                 "r"(fill ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
// Four 8×8 b16 matrices: lanes 8i..8i+7 give the row addresses of matrix i; register i of lane
// t holds row t/4, columns 2(t%4) and 2(t%4)+1 of matrix i.
__device__ __forceinline__ void ldmatrix_x4(u32* r, const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(smem)));
}
// The same with each matrix transposed: register i of lane t holds rows 2(t%4) and 2(t%4)+1 of
// column t/4 of matrix i (a B fragment from a tile stored [k][n]).
__device__ __forceinline__ void ldmatrix_x4_trans(u32* r, const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(shared_address(smem)));
}
#endif

// D = A·B + C for one m16n8k16 tile: A row-major 16×16, B column-major 16×8, f32 C/D, the
// fragments in the PTX ISA's layout (four, two and four registers per lane).
template <typename T> struct MmaOp;
#ifdef TANDEM_CUDA_SIM
template <> struct MmaOp<bf16> {
    static void run(float* c, const u32* a, const u32* b) { tandem_sim::mma_m16n8k16(c, a, b, true); }
};
template <> struct MmaOp<f16> {
    static void run(float* c, const u32* a, const u32* b) { tandem_sim::mma_m16n8k16(c, a, b, false); }
};
#else
template <> struct MmaOp<bf16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, const u32* b) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};
template <> struct MmaOp<f16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, const u32* b) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};
#endif

// ROWS × COLS halves of a row-major source into `tile` ([ROWS][LD] halves in shared memory) by
// `cp.async`, 16 bytes a copy spread over THREADS threads: tile row r, columns c..c+8 come from
// source row row0 + r, columns col0 + c..; chunks past `row_end` or `col_end` are zero-filled
// (from a valid address, the source's start). The caller guarantees 16-byte aligned source
// rows (row stride, col0 and the start multiples of 8 halves) and col_end a multiple of 8.
template <int ROWS, int COLS, int LD, int THREADS>
__device__ __forceinline__ void cp_async_rows(u16 (*tile)[LD], const u16* src, u64 row_stride, u32 row0, u32 row_end,
                                              u32 col0, u32 col_end) {
    constexpr u32 CHUNKS = ROWS * (COLS / 8);
    // Kept a loop: unrolled, the attention kernel's stages took about 50 more registers per
    // thread on sm_90 (214 for d128) for copies that only issue.
#pragma unroll 1
    for (u32 e = 0; e < (CHUNKS + THREADS - 1) / THREADS; ++e) {
        const u32 c = threadIdx.x + e * THREADS;
        if (CHUNKS % THREADS != 0 && c >= CHUNKS) break;
        const u32 r = c / (COLS / 8), col = (c % (COLS / 8)) * 8;
        const bool in = row0 + r < row_end && col0 + col < col_end;
        cp_async16(&tile[r][col], in ? src + (u64)(row0 + r) * row_stride + col0 + col : src, in);
    }
}

// Two values rounded to T and packed as one b16x2 register (the lower index in the low half),
// as a fragment register holds them.
template <typename T> __device__ __forceinline__ u32 pack2(float lo, float hi) {
    return (u32)from_f32<T>(lo).bits | ((u32)from_f32<T>(hi).bits << 16);
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
