// Reductions over the last dim of a contiguous [rows, cols] tensor: one block per row, strided
// loads by the block's threads, warp-shuffle + shared-memory block reductions.
//   reduce_<dtype>:     sum (0), max (1), min (2), written in the input dtype.
//   reduce_arg_<dtype>: argmax (0), argmin (1) as u32: the first index of the best value; NaN
//                       never wins (all-NaN rows give 0), like the CPU reference. This is what
//                       greedy decoding reads back instead of a whole row of logits.

template <typename T>
__device__ __forceinline__ void reduce_row(const T* __restrict__ x, T* __restrict__ out, u32 cols, u32 op) {
    const T* row = x + (u64)blockIdx.x * cols;
    float acc = op == 0 ? 0.0f : (op == 1 ? NEG_INF : -NEG_INF);
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = to_f32(row[j]);
        acc = op == 0 ? acc + v : (op == 1 ? fmaxf(acc, v) : fminf(acc, v));
    }
    acc = op == 0 ? block_sum(acc) : (op == 1 ? block_max(acc) : block_min(acc));
    if (threadIdx.x == 0) out[blockIdx.x] = from_f32<T>(acc);
}

// (value, index) candidates: `b` beats `a` when it is a number and `a` is not, or better, or
// equal with a lower index.
__device__ __forceinline__ bool beats(float bv, u32 bi, float av, u32 ai, bool max) {
    if (isnan(bv)) return isnan(av) && bi < ai;
    if (isnan(av)) return true;
    if (bv == av) return bi < ai;
    return max ? bv > av : bv < av;
}

template <typename T>
__device__ __forceinline__ void arg_row(const T* __restrict__ x, u32* __restrict__ out, u32 cols, u32 op) {
    const T* row = x + (u64)blockIdx.x * cols;
    const bool max = op == 0;
    float bv = __int_as_float(0x7fc00000);
    u32 bi = 0xffffffffu;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = to_f32(row[j]);
        if (beats(v, j, bv, bi, max)) { bv = v; bi = j; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const u32 oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (beats(ov, oi, bv, bi, max)) { bv = ov; bi = oi; }
    }
    __shared__ float vals[32];
    __shared__ u32 idxs[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { vals[warp] = bv; idxs[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        const bool live = lane < (int)(blockDim.x >> 5);
        bv = live ? vals[lane] : __int_as_float(0x7fc00000);
        bi = live ? idxs[lane] : 0xffffffffu;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            const u32 oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (beats(ov, oi, bv, bi, max)) { bv = ov; bi = oi; }
        }
        if (lane == 0) out[blockIdx.x] = bi == 0xffffffffu ? 0u : bi;
    }
}

#define REDUCE(T, NAME)                                                                                       \
    extern "C" __global__ void reduce_##NAME(const T* __restrict__ x, T* __restrict__ out, u32 cols, u32 op) { \
        reduce_row<T>(x, out, cols, op);                                                                      \
    }                                                                                                         \
    extern "C" __global__ void reduce_arg_##NAME(const T* __restrict__ x, u32* __restrict__ out, u32 cols, u32 op) { \
        arg_row<T>(x, out, cols, op);                                                                         \
    }
FOR_FLOATS(REDUCE)
