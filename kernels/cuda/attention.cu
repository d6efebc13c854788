// attention_<dtype>_d<max head dim>: fused scaled-dot-product attention with an online softmax
// (flash attention): the [q_len, kv_len] score matrix never touches global memory.
//
// q [b, h, q_len, d], k [b, h, kv_len, d], v [b, h, kv_len, dv], each with the last dim
// contiguous and any other strides (heads permuted out of [b, l, h, d], a KV cache narrowed to
// its filled length, keys/values broadcast over the batch with stride 0); an optional additive
// mask addressed by four strides (broadcast dims 0); output contiguous [b, h, q_len, dv].
// With `causal`, query i sits at absolute position kv_len - q_len + i and sees keys 0..=that
// (self-attention over a KV cache; cross-attention is the non-causal case).
//
// One warp per query row, ROWS query rows (warps) per block sharing each tile of 32 keys and
// values staged in shared memory as f32. Lane j scores key j of the tile against the row's
// query (from shared memory, a broadcast read; K rows padded by one float so the 32 lanes hit
// 32 banks); the warp then updates its running max, sum and output (each lane owns DPL output
// columns) with the tile's probabilities, broadcast by shuffles. Decoding (q_len = 1) is
// memory-bound and reads K and V exactly once.

#define ATT_KEYS 32
#define ATT_ROWS 4

struct AttentionParams {
    u32 heads, q_len, kv_len, d, dv;
    u32 causal, has_mask;
    float scale;
    u64 q_offset, q_sb, q_sh, q_sl;
    u64 k_offset, k_sb, k_sh, k_sl;
    u64 v_offset, v_sb, v_sh, v_sl;
    u64 m_offset, m_sb, m_sh, m_sq, m_sk;
};

template <typename T, int DPL>
__device__ __forceinline__ void attention_rows(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                               const T* __restrict__ mask, T* __restrict__ out, const AttentionParams& p) {
    constexpr int D = 32 * DPL;
    __shared__ float Qs[ATT_ROWS][D];
    __shared__ float Ks[ATT_KEYS][D + 1];
    __shared__ float Vs[ATT_KEYS][D];
    const u32 tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const u32 head = blockIdx.y, batch = blockIdx.z;
    const u32 row0 = blockIdx.x * ATT_ROWS, row = row0 + warp;
    const bool live = row < p.q_len;
    const T* qb = q + p.q_offset + (u64)batch * p.q_sb + (u64)head * p.q_sh;
    const T* kb = k + p.k_offset + (u64)batch * p.k_sb + (u64)head * p.k_sh;
    const T* vb = v + p.v_offset + (u64)batch * p.v_sb + (u64)head * p.v_sh;

    for (u32 c = lane; c < D; c += 32) Qs[warp][c] = (live && c < p.d) ? to_f32(qb[(u64)row * p.q_sl + c]) * p.scale : 0.0f;

    // Keys this block's last row can see: a causal block stops early.
    const u32 past = p.kv_len - p.q_len;
    const u32 last_row = min(row0 + ATT_ROWS, p.q_len) - 1;
    const u32 keys = p.causal ? min(p.kv_len, past + last_row + 1) : p.kv_len;
    const u32 limit = p.causal ? past + row : 0xffffffffu;  // last key this row sees

    float m = NEG_INF, l = 0.0f, acc[DPL];
#pragma unroll
    for (int e = 0; e < DPL; ++e) acc[e] = 0.0f;

    for (u32 j0 = 0; j0 < keys; j0 += ATT_KEYS) {
        __syncthreads();  // previous tile fully used (and Qs written, on the first tile)
        for (u32 idx = tid; idx < ATT_KEYS * D; idx += 32 * ATT_ROWS) {
            const u32 j = idx / D, c = idx % D, key = j0 + j;
            const bool in = key < keys;
            Ks[j][c] = (in && c < p.d) ? to_f32(kb[(u64)key * p.k_sl + c]) : 0.0f;
            Vs[j][c] = (in && c < p.dv) ? to_f32(vb[(u64)key * p.v_sl + c]) : 0.0f;
        }
        __syncthreads();
        const u32 key = j0 + lane;
        float s = NEG_INF;
        if (live && key < keys && key <= limit) {
            s = 0.0f;
#pragma unroll 8
            for (int c = 0; c < D; ++c) s = fmaf(Qs[warp][c], Ks[lane][c], s);
            if (p.has_mask)
                s += to_f32(mask[p.m_offset + (u64)batch * p.m_sb + (u64)head * p.m_sh + (u64)row * p.m_sq + (u64)key * p.m_sk]);
        }
        const float m_new = fmaxf(m, warp_max(s));
        // Everything masked so far: keep the state at zero instead of exp(-inf + inf) = NaN.
        const float pj = m_new == NEG_INF ? 0.0f : expf(s - m_new);
        const float corr = m_new == NEG_INF ? 1.0f : expf(m - m_new);
        l = l * corr + warp_sum(pj);
        m = m_new;
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[e] *= corr;
#pragma unroll 4
        for (int j = 0; j < ATT_KEYS; ++j) {
            const float pb = __shfl_sync(0xffffffffu, pj, j);
#pragma unroll
            for (int e = 0; e < DPL; ++e) acc[e] = fmaf(pb, Vs[j][lane + 32 * e], acc[e]);
        }
    }
    if (!live) return;
    T* o = out + (((u64)batch * p.heads + head) * p.q_len + row) * p.dv;
    const float inv = 1.0f / l;  // a fully masked row gives 0/0 = NaN, as softmax over -inf does
#pragma unroll
    for (int e = 0; e < DPL; ++e) {
        const u32 c = lane + 32 * e;
        if (c < p.dv) o[c] = from_f32<T>(acc[e] * inv);
    }
}

#define ATTENTION(T, NAME)                                                                                    \
    extern "C" __global__ void __launch_bounds__(32 * ATT_ROWS) attention_##NAME##_d64(                      \
        const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ mask,  \
        T* __restrict__ out, AttentionParams p) {                                                             \
        attention_rows<T, 2>(q, k, v, mask, out, p);                                                          \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(32 * ATT_ROWS) attention_##NAME##_d128(                     \
        const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ mask,  \
        T* __restrict__ out, AttentionParams p) {                                                             \
        attention_rows<T, 4>(q, k, v, mask, out, p);                                                          \
    }
FOR_FLOATS(ATTENTION)
