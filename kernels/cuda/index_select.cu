// index_select_<dtype>: gather along one dim. `src` is contiguous [outer, src_dim, inner];
// out[o, i, r] = src[o, ids[i], r] for `n_ids` indices (u32, or i64 when `ids_i64`), already
// checked to be in range on the host. Embedding lookups are the outer = 1 case.

template <typename T>
__device__ __forceinline__ void index_select(const T* __restrict__ src, const void* __restrict__ ids, T* __restrict__ out, u32 outer,
                                             u32 src_dim, u32 inner, u32 n_ids, u32 ids_offset, u32 ids_i64) {
    const u32 n = outer * n_ids * inner;
    FOR_EACH(i, n) {
        const u32 r = i % inner;
        const u32 k = (i / inner) % n_ids;
        const u32 o = i / (inner * n_ids);
        const u32 id = ids_i64 ? (u32)((const i64*)ids)[ids_offset + k] : ((const u32*)ids)[ids_offset + k];
        out[i] = src[((u64)o * src_dim + id) * inner + r];
    }
}

#define INDEX_SELECT(T, NAME)                                                                                 \
    extern "C" __global__ void index_select_##NAME(const T* __restrict__ src, const void* __restrict__ ids,    \
                                                   T* __restrict__ out, u32 outer, u32 src_dim, u32 inner,    \
                                                   u32 n_ids, u32 ids_offset, u32 ids_i64) {                  \
        index_select<T>(src, ids, out, outer, src_dim, inner, n_ids, ids_offset, ids_i64);                    \
    }
FOR_ALL(INDEX_SELECT)
