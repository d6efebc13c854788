// l2_normalize_<dtype>: y = x / max(‖x‖₂, eps) over the last dim of a contiguous [rows, cols]
// tensor (PyTorch's `F.normalize`), one block per row (CLIP's embedding normalisation).

template <typename T>
__device__ __forceinline__ void l2_normalize_row(const T* __restrict__ x, T* __restrict__ y, u32 cols, float eps) {
    const u64 base = (u64)blockIdx.x * cols;
    float s = 0.0f;
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = to_f32(x[base + j]);
        s += v * v;
    }
    const float inv = 1.0f / fmaxf(sqrtf(block_sum(s)), eps);
    for (u32 j = threadIdx.x; j < cols; j += blockDim.x) y[base + j] = from_f32<T>(to_f32(x[base + j]) * inv);
}

#define L2_NORMALIZE(T, NAME)                                                                                 \
    extern "C" __global__ void l2_normalize_##NAME(const T* __restrict__ x, T* __restrict__ y, u32 cols, float eps) { \
        l2_normalize_row<T>(x, y, cols, eps);                                                                 \
    }
FOR_FLOATS(L2_NORMALIZE)
