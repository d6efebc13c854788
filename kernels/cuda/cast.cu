// cast_<from>_<to>: contiguous dtype conversion of `n` elements. Floats go through f32 (exact for
// f16/bf16 sources), rounding to nearest even when narrowing; float → int truncates toward zero
// and saturates (NaN → 0), as Rust's `as`; i64 ↔ u32 are integer conversions (i64 → u32 keeps
// the low 32 bits, as `as` does).

template <typename A, typename B> __device__ __forceinline__ B convert(A x) { return from_f32<B>(to_f32(x)); }
template <> __device__ __forceinline__ u32 convert<i64, u32>(i64 x) { return (u32)x; }
template <> __device__ __forceinline__ i64 convert<u32, i64>(u32 x) { return (i64)x; }
template <> __device__ __forceinline__ u32 convert<u32, u32>(u32 x) { return x; }
template <> __device__ __forceinline__ i64 convert<i64, i64>(i64 x) { return x; }

template <typename A, typename B>
__device__ __forceinline__ void cast(const A* __restrict__ src, B* __restrict__ dst, u32 n) {
    FOR_EACH(i, n) dst[i] = convert<A, B>(src[i]);
}

#define CAST(A, AN, B, BN) \
    extern "C" __global__ void cast_##AN##_##BN(const A* __restrict__ src, B* __restrict__ dst, u32 n) { cast<A, B>(src, dst, n); }
#define CAST_FROM(A, AN) CAST(A, AN, float, f32) CAST(A, AN, f16, f16) CAST(A, AN, bf16, bf16) CAST(A, AN, u32, u32) CAST(A, AN, i64, i64)
CAST_FROM(float, f32)
CAST_FROM(f16, f16)
CAST_FROM(bf16, bf16)
CAST_FROM(u32, u32)
CAST_FROM(i64, i64)
