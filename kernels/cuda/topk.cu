// topk_<dtype>: the k largest entries of each row of a contiguous [rows, cols] tensor, sorted
// descending under IEEE total order (NaN above +inf), ties to the lower index, exactly the CPU
// reference's order. One block per row and k rounds of a block arg-max restricted to entries
// that come after the previous pick in that order: O(k · cols) per row, no sort and no scratch
// memory, which suits decoding (k = 2 · beams or a top-k sampler's k over a vocabulary).

// Total order key: larger key = larger value (negative floats flipped, positive ones offset).
__device__ __forceinline__ u32 order_key(float v) {
    const u32 b = __float_as_uint(v);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// (key, index) candidate `b` comes before `a`.
__device__ __forceinline__ bool before(u32 bk, u32 bi, u32 ak, u32 ai) { return bk > ak || (bk == ak && bi < ai); }

template <typename T>
__device__ __forceinline__ void topk_row(const T* __restrict__ x, T* __restrict__ values, u32* __restrict__ indices, u32 cols, u32 k) {
    const T* row = x + (u64)blockIdx.x * cols;
    __shared__ u32 keys[32];
    __shared__ u32 idxs[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    u32 prev_k = 0xffffffffu, prev_i = 0;  // nothing picked yet: everything comes after
    bool first = true;
    for (u32 round = 0; round < k; ++round) {
        u32 bk = 0, bi = 0xffffffffu;
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
            const u32 key = order_key(to_f32(row[j]));
            const bool after = first || before(prev_k, prev_i, key, j);
            if (after && (bi == 0xffffffffu || before(key, j, bk, bi))) { bk = key; bi = j; }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const u32 ok = __shfl_xor_sync(0xffffffffu, bk, o);
            const u32 oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi != 0xffffffffu && (bi == 0xffffffffu || before(ok, oi, bk, bi))) { bk = ok; bi = oi; }
        }
        if (lane == 0) { keys[warp] = bk; idxs[warp] = bi; }
        __syncthreads();
        if (warp == 0) {
            const bool live = lane < (int)(blockDim.x >> 5);
            bk = live ? keys[lane] : 0;
            bi = live ? idxs[lane] : 0xffffffffu;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                const u32 ok = __shfl_xor_sync(0xffffffffu, bk, o);
                const u32 oi = __shfl_xor_sync(0xffffffffu, bi, o);
                if (oi != 0xffffffffu && (bi == 0xffffffffu || before(ok, oi, bk, bi))) { bk = ok; bi = oi; }
            }
            if (lane == 0) { keys[0] = bk; idxs[0] = bi; }
        }
        __syncthreads();
        prev_k = keys[0];
        prev_i = idxs[0];
        first = false;
        if (threadIdx.x == 0) {
            const u64 o = (u64)blockIdx.x * k + round;
            values[o] = row[prev_i];
            indices[o] = prev_i;
        }
        __syncthreads();
    }
}

#define TOPK(T, NAME)                                                                                         \
    extern "C" __global__ void topk_##NAME(const T* __restrict__ x, T* __restrict__ values, u32* __restrict__ indices, \
                                           u32 cols, u32 k) {                                                 \
        topk_row<T>(x, values, indices, cols, k);                                                             \
    }
FOR_FLOATS(TOPK)
