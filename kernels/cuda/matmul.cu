// Batched matmul with a fused epilogue: out[b] = act(lhs[b] · rhs[b] + bias), out contiguous
// [batch, m, n]. Operands are addressed in place by (offset, batch stride, row stride, column
// stride), so transposed views (a `linear` weight) and broadcast batches (stride 0) are never
// copied. `bias` (n values, or null) and the activation code (`ACT_*` in common.cuh) are applied
// to the f32 accumulator before the single rounding to the output dtype.
//
//   matmul_{bf16,f16}_128x128: tensor cores, 128×128 block tile, 8 warps (2×4) of 64×32 warp
//     tiles, for large products (the host picks it when there are enough such tiles to fill
//     the GPU; see ops/matmul.rs).
//   matmul_{bf16,f16}: the same kernel with a 64×64 block tile and 4 warps (2×2) of 32×32, for
//     skinny products (decoding's few rows) and small ones, where big tiles would idle SMs.
//   Both: k-step 32, two shared-memory stages (double buffering): the next k-tile is in flight
//   while the warps multiply the current one. Operand tiles are kept k-contiguous in shared
//   memory ([m][k] and [n][k], rows padded by 8 halves so `ldmatrix` rows fall in distinct bank
//   groups), fragments are loaded with `ldmatrix.x4` in the PTX ISA's m16n8k16 layout, and
//   `mma.sync.aligned.m16n8k16` multiplies bf16/f16 with f32 accumulation.
//   Loads: an operand that is k-contiguous with 16-byte aligned rows (activations [m, k], a
//   `linear` weight [n, k] seen transposed) is copied with `cp.async` 16 bytes at a time, zero-
//   filled past m/n/k; any other layout (transposed activations, odd strides or offsets) is read
//   element by element in the coalesced order and stored transposed into the same tile.
//   matmul_f32: CUDA cores (f32 FMA), 64×64 block tile, k-step 16, 256 threads with 4×4
//     register blocks.
//
// Out-of-range tile elements read as 0, so any m, n, k works.

struct MatmulParams {
    u32 m, n, k;
    u32 act;
    u64 a_offset, a_batch, a_rs, a_cs;  // lhs: element (b, i, kk) at a_offset + b·a_batch + i·a_rs + kk·a_cs
    u64 b_offset, b_batch, b_rs, b_cs;  // rhs: element (b, kk, j) at b_offset + b·b_batch + kk·b_rs + j·b_cs
};

// ----- tensor-core kernel ---------------------------------------------------------------------

#define TC_BK 32
#define TC_PAD 8
#define TC_LD (TC_BK + TC_PAD)  // halves per shared-memory tile row (80 bytes: 16-byte aligned)

// Whether an operand's rows can be copied as 16-byte chunks along k: k-contiguous, and every
// row start (offset, row and batch strides, in halves) a multiple of 8 halves.
__device__ __forceinline__ bool rows_vectorizable(const void* base, u64 offset, u64 batch_stride, u64 row_stride,
                                                  u64 k_stride, u32 k) {
    return k_stride == 1 && k % 8 == 0 && offset % 8 == 0 && batch_stride % 8 == 0 && row_stride % 8 == 0 &&
           ((unsigned long long)base & 15) == 0;
}

// Stages rows [r0, r0 + ROWS) × k [k0, k0 + TC_BK) of one operand into `tile` ([ROWS][TC_LD],
// k-contiguous). `rs`/`ks` are the operand's strides along rows and k.
template <int ROWS, int THREADS>
__device__ __forceinline__ void stage_rows(u16 (*tile)[TC_LD], const u16* src, u32 rows, u32 k, u32 r0, u32 k0,
                                           u64 rs, u64 ks, bool vectorized) {
    if (vectorized) {
        cp_async_rows<ROWS, TC_BK, TC_LD, THREADS>(tile, src, rs, r0, rows, k0, k);
    } else {
        // Element by element, in the order that makes consecutive threads read consecutive
        // addresses: along k when k is the contiguous dim, along the rows otherwise.
        const bool k_major = ks == 1;
#pragma unroll 4
        for (u32 e = 0; e < ROWS * TC_BK / THREADS; ++e) {
            const u32 idx = threadIdx.x + e * THREADS;
            const u32 r = k_major ? idx / TC_BK : idx % ROWS;
            const u32 c = k_major ? idx % TC_BK : idx / ROWS;
            const u32 gr = r0 + r, gk = k0 + c;
            tile[r][c] = (gr < rows && gk < k) ? src[(u64)gr * rs + (u64)gk * ks] : (u16)0;
        }
    }
}

template <typename T, int BM, int BN, int WARPS_M, int WARPS_N>
__device__ __forceinline__ void matmul_tc(const T* __restrict__ lhs, const T* __restrict__ rhs, const T* __restrict__ bias,
                                          T* __restrict__ out, const MatmulParams& p) {
    constexpr int THREADS = 32 * WARPS_M * WARPS_N;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // warp tile
    constexpr int MT = WM / 16, NT = WN / 8;             // m16n8 tiles per warp
    static_assert(NT % 2 == 0, "B fragments are loaded two n8 tiles at a time");
    __shared__ __align__(16) u16 As[2][BM][TC_LD];  // [stage][m][k]
    __shared__ __align__(16) u16 Bs[2][BN][TC_LD];  // [stage][n][k]: B stored transposed
    const u32 tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const u32 group = lane >> 2, tig = lane & 3;
    const u32 warp_m = warp / WARPS_N, warp_n = warp % WARPS_N;
    const u32 m0 = blockIdx.y * BM, n0 = blockIdx.x * BN, batch = blockIdx.z;
    const u16* a = (const u16*)lhs + p.a_offset + (u64)batch * p.a_batch;
    const u16* b = (const u16*)rhs + p.b_offset + (u64)batch * p.b_batch;
    // B as rows of n: element (j, kk) at j·b_cs + kk·b_rs.
    const bool a_vec = rows_vectorizable(lhs, p.a_offset, p.a_batch, p.a_rs, p.a_cs, p.k);
    const bool b_vec = rows_vectorizable(rhs, p.b_offset, p.b_batch, p.b_cs, p.b_rs, p.k);

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    const u32 tiles = (p.k + TC_BK - 1) / TC_BK;
    if (tiles > 0) {
        stage_rows<BM, THREADS>(As[0], a, p.m, p.k, m0, 0, p.a_rs, p.a_cs, a_vec);
        stage_rows<BN, THREADS>(Bs[0], b, p.n, p.k, n0, 0, p.b_cs, p.b_rs, b_vec);
    }
    cp_async_commit();
    for (u32 t = 0; t < tiles; ++t) {
        const u32 s = t & 1;
        // Start the next tile into the other stage (its last readers finished at the barrier
        // that ended the previous iteration), then wait for this one.
        if (t + 1 < tiles) {
            stage_rows<BM, THREADS>(As[s ^ 1], a, p.m, p.k, m0, (t + 1) * TC_BK, p.a_rs, p.a_cs, a_vec);
            stage_rows<BN, THREADS>(Bs[s ^ 1], b, p.n, p.k, n0, (t + 1) * TC_BK, p.b_cs, p.b_rs, b_vec);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
#pragma unroll
        for (u32 ks = 0; ks < TC_BK; ks += 16) {
            u32 af[MT][4], bfr[NT][2];
            // A: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15),
            // (rows 8-15, k 8-15) of each 16×16 sub-tile = registers a0..a3 of m16n8k16.
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                const u32 i = lane >> 3, row = warp_m * WM + mt * 16 + (i & 1) * 8 + (lane & 7);
                ldmatrix_x4(af[mt], &As[s][row][ks + (i >> 1) * 8]);
            }
            // B ([n][k] in shared memory): matrices (n tile j, k 0-7), (j, k 8-15), (j+1, k 0-7),
            // (j+1, k 8-15) = registers b0, b1 of two n8 tiles.
#pragma unroll
            for (int nt = 0; nt < NT; nt += 2) {
                const u32 i = lane >> 3, col = warp_n * WN + (nt + (i >> 1)) * 8 + (lane & 7);
                u32 r[4];
                ldmatrix_x4(r, &Bs[s][col][ks + (i & 1) * 8]);
                bfr[nt][0] = r[0];
                bfr[nt][1] = r[1];
                bfr[nt + 1][0] = r[2];
                bfr[nt + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) MmaOp<T>::run(acc[mt][nt], af[mt], bfr[nt]);
        }
        __syncthreads();
    }
    cp_async_wait<0>();

    T* o = out + (u64)batch * p.m * p.n;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const u32 row = m0 + warp_m * WM + mt * 16 + group + (e >= 2 ? 8 : 0);
                const u32 col = n0 + warp_n * WN + nt * 8 + tig * 2 + (e & 1);
                if (row < p.m && col < p.n) {
                    float v = acc[mt][nt][e];
                    if (bias) v += to_f32(bias[col]);
                    o[(u64)row * p.n + col] = from_f32<T>(activate(p.act, v));
                }
            }
}

#define F32_BM 64
#define F32_BN 64
#define F32_BK 16
#define F32_THREADS 256

__device__ __forceinline__ void matmul_simt(const float* __restrict__ lhs, const float* __restrict__ rhs,
                                            const float* __restrict__ bias, float* __restrict__ out, const MatmulParams& p) {
    __shared__ float As[F32_BK][F32_BM + 4];  // [k][m]
    __shared__ float Bs[F32_BK][F32_BN + 4];  // [k][n]
    const u32 tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const u32 m0 = blockIdx.y * F32_BM, n0 = blockIdx.x * F32_BN, batch = blockIdx.z;
    const float* a = lhs + p.a_offset + (u64)batch * p.a_batch;
    const float* b = rhs + p.b_offset + (u64)batch * p.b_batch;
    const bool a_k_major = p.a_cs == 1;
    const bool b_n_major = p.b_cs == 1;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (u32 k0 = 0; k0 < p.k; k0 += F32_BK) {
#pragma unroll
        for (u32 e = 0; e < F32_BM * F32_BK / F32_THREADS; ++e) {
            const u32 idx = tid + e * F32_THREADS;
            const u32 r = a_k_major ? idx / F32_BK : idx % F32_BM;
            const u32 c = a_k_major ? idx % F32_BK : idx / F32_BM;
            const u32 gm = m0 + r, gk = k0 + c;
            As[c][r] = (gm < p.m && gk < p.k) ? a[(u64)gm * p.a_rs + (u64)gk * p.a_cs] : 0.0f;
        }
#pragma unroll
        for (u32 e = 0; e < F32_BN * F32_BK / F32_THREADS; ++e) {
            const u32 idx = tid + e * F32_THREADS;
            const u32 c = b_n_major ? idx % F32_BN : idx / F32_BK;  // n
            const u32 r = b_n_major ? idx / F32_BN : idx % F32_BK;  // k
            const u32 gn = n0 + c, gk = k0 + r;
            Bs[r][c] = (gn < p.n && gk < p.k) ? b[(u64)gk * p.b_rs + (u64)gn * p.b_cs] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (u32 kk = 0; kk < F32_BK; ++kk) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = As[kk][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
    float* o = out + (u64)batch * p.m * p.n;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const u32 row = m0 + ty * 4 + i, col = n0 + tx * 4 + j;
            if (row < p.m && col < p.n) {
                float v = acc[i][j];
                if (bias) v += bias[col];
                o[(u64)row * p.n + col] = activate(p.act, v);
            }
        }
}

// The 64×64 variant asks for 4 resident blocks per SM: without a minimum, ptxas capped it at 64
// registers on sm_90 and spilled (82 are used with it; the 128×128 variant uses 98-100).
#define MATMUL_TC(T, NAME)                                                                                     \
    extern "C" __global__ void __launch_bounds__(128, 4) matmul_##NAME(const T* __restrict__ lhs, const T* __restrict__ rhs, \
                                                                   const T* __restrict__ bias, T* __restrict__ out,      \
                                                                   MatmulParams p) {                                     \
        matmul_tc<T, 64, 64, 2, 2>(lhs, rhs, bias, out, p);                                                            \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) matmul_##NAME##_128x128(                                         \
        const T* __restrict__ lhs, const T* __restrict__ rhs, const T* __restrict__ bias, T* __restrict__ out,         \
        MatmulParams p) {                                                                                              \
        matmul_tc<T, 128, 128, 2, 4>(lhs, rhs, bias, out, p);                                                          \
    }
MATMUL_TC(bf16, bf16)
MATMUL_TC(f16, f16)
extern "C" __global__ void __launch_bounds__(F32_THREADS) matmul_f32(const float* __restrict__ lhs, const float* __restrict__ rhs,
                                                                    const float* __restrict__ bias, float* __restrict__ out,
                                                                    MatmulParams p) {
    matmul_simt(lhs, rhs, bias, out, p);
}
