// attention_<dtype>_d<max head dim>: fused scaled-dot-product attention with an online softmax
// (flash attention): the [q_len, kv_len] score matrix never touches global memory. Two
// kernels: a SIMT one for every dtype and layout (decoding's single query rows among them), and
// for bf16/f16 prefill and encoders a tensor-core one, attention_tc_<dtype>_d<64|128> (below).
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

// ----- tensor cores: attention_tc_<bf16|f16>_d<64|128> -----------------------------------------
//
// FlashAttention-2's work split (Dao, 2023, section 3): a block of 4 warps owns 64 query rows
// (16 per warp) and walks the keys in tiles, so K and V are read once per 64 queries rather than
// once per query. Per tile, S = Q·Kᵀ and O += P·V are `mma.sync.m16n8k16` products with f32
// accumulation; the online softmax runs on the S fragments in registers (each lane holds two
// rows; row max and sum combine the four lanes of a row by shuffles), and P goes from the S
// accumulator layout straight into A fragments, rounded to the input dtype, as FlashAttention
// does. Q is loaded once into registers; K and V tiles arrive by cp.async into separate buffers,
// V of a tile while S is computed and K of the next tile while P·V is, so copies overlap math
// without a second stage of shared memory (d128 with 32-key tiles fits in 35 KB).
//
// Requires rows of q, k, v that cp.async can copy: head dims a multiple of 8, every offset and
// stride a multiple of 8 elements (the host checks, and uses the SIMT kernel otherwise). Same
// parameters, masks, causality and NaN behaviour for fully masked rows as the SIMT kernel.

#define TC_ROWS 64  // query rows per block (4 warps × 16)

template <typename T, int D, int BKV>
__device__ __forceinline__ void attention_tc(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                             const T* __restrict__ mask, T* __restrict__ out, const AttentionParams& p) {
    constexpr int LD = D + 8;  // halves per shared row: 16-byte aligned, ldmatrix conflict-free
    constexpr int KT = D / 16;  // k16 steps over the head dim
    constexpr int NK = BKV / 8;  // n8 key tiles per key tile
    constexpr int ND = D / 8;  // n8 tiles of the output's head dim
    __shared__ __align__(16) u16 Qs[TC_ROWS][LD];
    __shared__ __align__(16) u16 Ks[BKV][LD];
    __shared__ __align__(16) u16 Vs[BKV][LD];
    const u32 tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const u32 group = lane >> 2, tig = lane & 3;
    const u32 head = blockIdx.y, batch = blockIdx.z;
    const u32 q0 = blockIdx.x * TC_ROWS;
    const u16* qb = (const u16*)q + p.q_offset + (u64)batch * p.q_sb + (u64)head * p.q_sh;
    const u16* kb = (const u16*)k + p.k_offset + (u64)batch * p.k_sb + (u64)head * p.k_sh;
    const u16* vb = (const u16*)v + p.v_offset + (u64)batch * p.v_sb + (u64)head * p.v_sh;

    // Keys the block's last row can see (a causal block stops early).
    const u32 past = p.kv_len - p.q_len;
    const u32 last_row = min(q0 + TC_ROWS, p.q_len) - 1;
    const u32 keys = p.causal ? min(p.kv_len, past + last_row + 1) : p.kv_len;
    const u32 tiles = (keys + BKV - 1) / BKV;

    cp_async_rows<TC_ROWS, D, LD, 128>(Qs, qb, p.q_sl, q0, p.q_len, 0, p.d);
    if (tiles > 0) cp_async_rows<BKV, D, LD, 128>(Ks, kb, p.k_sl, 0, keys, 0, p.d);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    u32 qf[KT][4];
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
        const u32 i = lane >> 3;
        ldmatrix_x4(qf[kt], &Qs[warp * 16 + (i & 1) * 8 + (lane & 7)][kt * 16 + (i >> 1) * 8]);
    }

    // This lane's two rows: group and group + 8 of the warp's 16.
    const u32 rows[2] = {q0 + warp * 16 + group, q0 + warp * 16 + group + 8};
    float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
    float o[ND][4];
#pragma unroll
    for (int i = 0; i < ND; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[i][e] = 0.0f;

    for (u32 t = 0; t < tiles; ++t) {
        const u32 j0 = t * BKV;
        // V of this tile, in flight while S is computed.
        cp_async_rows<BKV, D, LD, 128>(Vs, vb, p.v_sl, j0, keys, 0, p.dv);
        cp_async_commit();
        cp_async_wait<1>();  // K of this tile
        __syncthreads();

        float s[NK][4];
#pragma unroll
        for (int i = 0; i < NK; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[i][e] = 0.0f;
#pragma unroll
        for (int kt = 0; kt < KT; ++kt)
#pragma unroll
            for (int nt = 0; nt < NK; nt += 2) {
                // Kᵀ as the column-major B operand: Ks rows are keys, k-contiguous.
                const u32 i = lane >> 3;
                u32 r[4];
                ldmatrix_x4(r, &Ks[(nt + (i >> 1)) * 8 + (lane & 7)][kt * 16 + (i & 1) * 8]);
                const u32 b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                MmaOp<T>::run(s[nt], qf[kt], b0);
                MmaOp<T>::run(s[nt + 1], qf[kt], b1);
            }
        __syncthreads();  // every warp is done with Ks
        if (t + 1 < tiles) cp_async_rows<BKV, D, LD, 128>(Ks, kb, p.k_sl, j0 + BKV, keys, 0, p.d);
        cp_async_commit();

        // Scale, mask, and the online softmax update of both rows.
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const u32 row = rows[h];
            const u32 limit = p.causal ? past + row : 0xffffffffu;  // last key this row sees
            float mx = NEG_INF;
#pragma unroll
            for (int nt = 0; nt < NK; ++nt)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const u32 key = j0 + nt * 8 + tig * 2 + e;
                    float x = NEG_INF;
                    if (row < p.q_len && key < keys && key <= limit) {
                        x = s[nt][2 * h + e] * p.scale;
                        if (p.has_mask)
                            x += to_f32(mask[p.m_offset + (u64)batch * p.m_sb + (u64)head * p.m_sh + (u64)row * p.m_sq +
                                             (u64)key * p.m_sk]);
                    }
                    s[nt][2 * h + e] = x;
                    mx = fmaxf(mx, x);
                }
            // The row's four lanes (same group) hold its columns.
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m[h], mx);
            // Everything masked so far: keep the state at zero instead of exp(-inf + inf) = NaN.
            const float corr = m_new == NEG_INF ? 1.0f : expf(m[h] - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int nt = 0; nt < NK; ++nt)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const float pj = m_new == NEG_INF ? 0.0f : expf(s[nt][2 * h + e] - m_new);
                    s[nt][2 * h + e] = pj;
                    sum += pj;
                }
            l[h] = l[h] * corr + sum;  // this lane's share; the four shares are summed at the end
            m[h] = m_new;
#pragma unroll
            for (int dt = 0; dt < ND; ++dt) {
                o[dt][2 * h] *= corr;
                o[dt][2 * h + 1] *= corr;
            }
        }

        cp_async_wait<1>();  // V of this tile
        __syncthreads();
        // O += P·V: P's accumulator fragments of two key tiles are the A fragment of one k16
        // step; V (rows are keys) is the B operand through a transposing ldmatrix.
#pragma unroll
        for (int kk = 0; kk < BKV / 16; ++kk) {
            const u32 a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                              pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int dt = 0; dt < ND; dt += 2) {
                const u32 i = lane >> 3;
                u32 r[4];
                ldmatrix_x4_trans(r, &Vs[kk * 16 + (i & 1) * 8 + (lane & 7)][(dt + (i >> 1)) * 8]);
                const u32 b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                MmaOp<T>::run(o[dt], a, b0);
                MmaOp<T>::run(o[dt + 1], a, b1);
            }
        }
        __syncthreads();  // every warp is done with Vs before the next tile's copy
    }
    cp_async_wait<0>();

#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float total = l[h];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const u32 row = rows[h];
        if (row >= p.q_len) continue;
        const float inv = 1.0f / total;  // a fully masked row gives 0 · inf = NaN, as the SIMT kernel
        T* orow = out + (((u64)batch * p.heads + head) * p.q_len + row) * p.dv;
#pragma unroll
        for (int dt = 0; dt < ND; ++dt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const u32 c = dt * 8 + tig * 2 + e;
                if (c < p.dv) orow[c] = from_f32<T>(o[dt][2 * h + e] * inv);
            }
    }
}

#define ATTENTION_TC(T, NAME)                                                                                 \
    extern "C" __global__ void __launch_bounds__(128) attention_tc_##NAME##_d64(                              \
        const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ mask,  \
        T* __restrict__ out, AttentionParams p) {                                                             \
        attention_tc<T, 64, 64>(q, k, v, mask, out, p);                                                       \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(128) attention_tc_##NAME##_d128(                             \
        const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ mask,  \
        T* __restrict__ out, AttentionParams p) {                                                             \
        attention_tc<T, 128, 32>(q, k, v, mask, out, p);                                                      \
    }
ATTENTION_TC(bf16, bf16)
ATTENTION_TC(f16, f16)
