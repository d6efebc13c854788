// Image preprocessing on the device: Pillow's bicubic resize of an 8-bit RGB image and the
// model processor's rescale + normalize, so a decoded image is uploaded once as u8 (3 bytes a
// pixel instead of 12 as f32) and BLIP's 384 / CLIP's 224 inputs are made next to the model.
//
// The resize is Pillow's separable convolution (`libImaging/Resample.c`): per output pixel a
// first input index and `n` fixed-point weights (22 fractional bits), precomputed on the host
// exactly as Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` do; integer accumulation
// with a rounding offset; clip to 0..255 after each pass (horizontal first, then vertical).
// Integer arithmetic makes it bit-exact with the CPU path, not just within one level.
//
//   resample_horizontal_u8: [rows, in_w, 3] → [rows, out_w, 3], input rows from `row_offset`.
//   resample_vertical_u8:   [in_h, w, 3] → [out_h, w, 3], input rows counted from `row_offset`.
//   normalize_<dtype>:      [h, w, 3] u8 → [3, h, w] of (x · rescale - mean[c]) / std[c].

#define PRECISION_BITS 22

__device__ __forceinline__ unsigned char clip8(i64 acc) {
    const i64 v = acc >> PRECISION_BITS;
    return (unsigned char)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

extern "C" __global__ void resample_horizontal_u8(const unsigned char* __restrict__ src, unsigned char* __restrict__ dst,
                                                  u32 rows, u32 in_w, u32 out_w, u32 row_offset,
                                                  const u32* __restrict__ bounds, const int* __restrict__ weights, u32 ksize) {
    FOR_EACH(i, rows * out_w * 3) {
        const u32 ch = i % 3, x = (i / 3) % out_w, y = i / (3 * out_w);
        const u32 xmin = bounds[2 * x], n = bounds[2 * x + 1];
        const unsigned char* line = src + (u64)(y + row_offset) * in_w * 3;
        const int* w = weights + (u64)x * ksize;
        i64 acc = (i64)1 << (PRECISION_BITS - 1);
        for (u32 t = 0; t < n; ++t) acc += (i64)line[(xmin + t) * 3 + ch] * w[t];
        dst[i] = clip8(acc);
    }
}

extern "C" __global__ void resample_vertical_u8(const unsigned char* __restrict__ src, unsigned char* __restrict__ dst,
                                                u32 out_h, u32 width, u32 row_offset,
                                                const u32* __restrict__ bounds, const int* __restrict__ weights, u32 ksize) {
    const u32 stride = width * 3;
    FOR_EACH(i, out_h * stride) {
        const u32 c = i % stride, y = i / stride;
        const u32 ymin = bounds[2 * y] - row_offset, n = bounds[2 * y + 1];
        const int* w = weights + (u64)y * ksize;
        i64 acc = (i64)1 << (PRECISION_BITS - 1);
        for (u32 t = 0; t < n; ++t) acc += (i64)src[(u64)(ymin + t) * stride + c] * w[t];
        dst[i] = clip8(acc);
    }
}

struct NormalizeParams {
    float rescale;
    float mean[3];
    float inv_std[3];
};

template <typename T>
__device__ __forceinline__ void normalize(const unsigned char* __restrict__ src, T* __restrict__ dst, u32 pixels,
                                          const NormalizeParams& p) {
    FOR_EACH(i, pixels * 3) {
        const u32 c = i / pixels, px = i % pixels;
        dst[i] = from_f32<T>(((float)src[px * 3 + c] * p.rescale - p.mean[c]) * p.inv_std[c]);
    }
}

#define NORMALIZE(T, NAME)                                                                                    \
    extern "C" __global__ void normalize_##NAME(const unsigned char* __restrict__ src, T* __restrict__ dst, u32 pixels, \
                                                NormalizeParams p) {                                          \
        normalize<T>(src, dst, pixels, p);                                                                    \
    }
FOR_FLOATS(NORMALIZE)
