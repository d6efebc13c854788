// add_layer_norm_<dtype>: the residual add fused with the layer norm after it. sum = x + r is
// stored as T, and y = layer_norm(sum as stored) over the last dim of a contiguous [rows, cols]
// tensor (biased variance, PyTorch's `nn.LayerNorm`): exactly `binary` add then `layer_norm`,
// in one launch that reads x and r once. One block per row; each thread reads back only the sum
// elements it wrote (the same j stride in every loop), so no barrier separates store and reads;
// the block reductions synchronise the passes. Statistics of the sum shifted by its first
// element, as in layer_norm.cu (exact for constant rows); every thread rounds that element
// itself rather than wait for the thread that stores it.

template <typename T>
__device__ __forceinline__ void add_layer_norm_row(const T* __restrict__ x, const T* __restrict__ r,
                                                   const T* __restrict__ gamma, const T* __restrict__ beta,
                                                   T* __restrict__ sum, T* __restrict__ y, u32 cols, float eps) {
    const u64 base = (u64)blockIdx.x * cols;
    const float shift = to_f32(from_f32<T>(to_f32(x[base]) + to_f32(r[base])));
    float s = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const T v = from_f32<T>(to_f32(x[base + j]) + to_f32(r[base + j]));
        sum[base + j] = v;
        s += to_f32(v) - shift;
    }
    const float mean = block_sum(s) / (float)cols;  // of the shifted sum
    float q = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float c = (to_f32(sum[base + j]) - shift) - mean;
        q += c * c;
    }
    const float rstd = 1.0f / sqrtf(block_sum(q) / (float)cols + eps);
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x)
        y[base + j] = from_f32<T>(((to_f32(sum[base + j]) - shift) - mean) * rstd * to_f32(gamma[j]) + to_f32(beta[j]));
}

#define ADD_LAYER_NORM(T, NAME)                                                                             \
    extern "C" __global__ void add_layer_norm_##NAME(const T* __restrict__ x, const T* __restrict__ r,      \
                                                     const T* __restrict__ gamma, const T* __restrict__ beta, \
                                                     T* __restrict__ sum, T* __restrict__ y, u32 cols,      \
                                                     float eps) {                                           \
        add_layer_norm_row<T>(x, r, gamma, beta, sum, y, cols, eps);                                        \
    }
FOR_FLOATS(ADD_LAYER_NORM)
