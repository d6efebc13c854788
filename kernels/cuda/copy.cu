// copy_<dtype>: strided → strided copy of `n` elements. Element i (row-major over s.dims) goes
// from src[src_offset + Σ idx·s.a] to dst[dst_offset + Σ idx·s.b]. With contiguous destination
// strides this is `contiguous()`; with the strides of a region of an existing buffer it is the
// in-place write (`Backend::copy_into`: KV-cache appends) and concat. Values are moved as bits,
// so one kernel per element width would do; one entry per dtype keeps the `<op>_<dtype>` rule.

template <typename T>
__device__ __forceinline__ void copy_strided(const T* __restrict__ src, T* __restrict__ dst, u32 n, u32 src_offset,
                                             u32 dst_offset, const Strides8& s) {
    FOR_EACH(i, n) {
        u32 a, b;
        strided_offsets(s, i, a, b);
        dst[dst_offset + b] = src[src_offset + a];
    }
}

#define COPY(T, NAME)                                                                                     \
    extern "C" __global__ void copy_##NAME(const T* __restrict__ src, T* __restrict__ dst, u32 n, u32 src_offset, \
                                           u32 dst_offset, Strides8 s) {                                   \
        copy_strided<T>(src, dst, n, src_offset, dst_offset, s);                                           \
    }
FOR_ALL(COPY)
