// layer_norm_<dtype>: y = (x - mean) / sqrt(var + eps) · gamma + beta over the last dim of a
// contiguous [rows, cols] tensor, biased variance (PyTorch's `nn.LayerNorm`). One block per
// row; two passes (mean, then the variance of the centered values, which is what the CPU
// reference computes and is more accurate than E[x²] - E[x]²), block reductions by warp shuffles.
// Both passes use the row shifted by its first element, as the WGSL kernel does: exact for a
// constant row, where an f32 mean's rounding noise divided by sqrt(eps = 1e-12) would otherwise
// come out as values of order one (found by the conformance suite on the simulator).

template <typename T>
__device__ __forceinline__ void layer_norm_row(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                               T* __restrict__ y, u32 cols, float eps) {
    const u64 base = (u64)blockIdx.x * cols;
    const T* row = x + base;
    const float shift = to_f32(row[0]);
    float s = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) s += to_f32(row[j]) - shift;
    const float mean = block_sum(s) / (float)cols;  // of the shifted row
    float v = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float c = (to_f32(row[j]) - shift) - mean;
        v += c * c;
    }
    const float rstd = 1.0f / sqrtf(block_sum(v) / (float)cols + eps);
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x)
        y[base + j] = from_f32<T>(((to_f32(row[j]) - shift) - mean) * rstd * to_f32(gamma[j]) + to_f32(beta[j]));
}

#define LAYER_NORM(T, NAME)                                                                                   \
    extern "C" __global__ void layer_norm_##NAME(const T* __restrict__ x, const T* __restrict__ gamma,        \
                                                 const T* __restrict__ beta, T* __restrict__ y, u32 cols, float eps) { \
        layer_norm_row<T>(x, gamma, beta, y, cols, eps);                                                      \
    }
FOR_FLOATS(LAYER_NORM)
