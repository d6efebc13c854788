// fill_<dtype>: every element of `out` set to `value` (already converted to the dtype by the host).

template <typename T>
__device__ __forceinline__ void fill(T* __restrict__ out, T value, u32 n) {
    FOR_EACH(i, n) out[i] = value;
}

#define FILL(T, NAME) \
    extern "C" __global__ void fill_##NAME(T* __restrict__ out, T value, u32 n) { fill<T>(out, value, n); }
FOR_ALL(FILL)
