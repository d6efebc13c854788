// softmax_<dtype>: softmax (or log-softmax) over the last dim of a contiguous [rows, cols]
// tensor, one block per row, after adding an optional additive mask (contiguous, same shape)
// and, with `causal`, masking keys after each query's absolute position: row r is query
// i = r mod q_len, which sits at position cols - q_len + i (a decoder with a KV cache).
// Three passes over the row (max, sum of exp, write), each a strided loop plus a block
// reduction; the row stays in L1/L2 between passes.

template <typename T>
__device__ __forceinline__ float masked(const T* __restrict__ row, const T* __restrict__ mrow, u32 j, u32 limit) {
    if (j > limit) return NEG_INF;
    float v = to_f32(row[j]);
    if (mrow) v += to_f32(mrow[j]);
    return v;
}

template <typename T>
__device__ __forceinline__ void softmax_row(const T* __restrict__ x, const T* __restrict__ mask, T* __restrict__ y, u32 cols,
                                            u32 q_len, u32 causal, u32 log) {
    const u64 base = (u64)blockIdx.x * cols;
    const T* row = x + base;
    const T* mrow = mask ? mask + base : nullptr;
    const u32 limit = causal ? cols - q_len + (blockIdx.x % q_len) : 0xffffffffu;
    float m = NEG_INF;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, masked(row, mrow, j, limit));
    m = block_max(m);
    float s = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) s += expf(masked(row, mrow, j, limit) - m);
    s = block_sum(s);
    if (log) {
        const float lse = logf(s);
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) y[base + j] = from_f32<T>(masked(row, mrow, j, limit) - m - lse);
    } else {
        const float inv = 1.0f / s;
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) y[base + j] = from_f32<T>(expf(masked(row, mrow, j, limit) - m) * inv);
    }
}

#define SOFTMAX(T, NAME)                                                                                      \
    extern "C" __global__ void softmax_##NAME(const T* __restrict__ x, const T* __restrict__ mask, T* __restrict__ y, \
                                              u32 cols, u32 q_len, u32 causal, u32 log) {                     \
        softmax_row<T>(x, mask, y, cols, q_len, causal, log);                                                 \
    }
FOR_FLOATS(SOFTMAX)
