// Batched matmul with a fused epilogue: out[b] = act(lhs[b] · rhs[b] + bias), out contiguous
// [batch, m, n]. Operands are addressed in place by (offset, batch stride, row stride, column
// stride), so transposed views (a `linear` weight) and broadcast batches (stride 0) are never
// copied. `bias` (n values, or null) and the activation code (`ACT_*` in common.cuh) are applied
// to the f32 accumulator before the single rounding to the output dtype.
//
//   matmul_bf16, matmul_f16: tensor cores. 64×64 block tile, k-step 32, 4 warps in a 2×2 grid,
//     each warp a 32×32 tile of 2×4 `mma.sync.m16n8k16` (bf16/f16 in, f32 accumulate). Tiles
//     are staged in shared memory (rows padded by 8 halves so the fragment loads are free of bank
//     conflicts) and fragments are read with 32-bit loads in the PTX ISA's m16n8k16 layout.
//   matmul_f32: CUDA cores (f32 FMA), 64×64 block tile, k-step 16, 256 threads with 4×4
//     register blocks.
//
// Loads pick the coalesced order at run time: along k when the operand is k-contiguous, along
// m/n otherwise. Out-of-range tile elements read as 0, so any m, n, k works.

struct MatmulParams {
    u32 m, n, k;
    u32 act;
    u64 a_offset, a_batch, a_rs, a_cs;  // lhs: element (b, i, kk) at a_offset + b·a_batch + i·a_rs + kk·a_cs
    u64 b_offset, b_batch, b_rs, b_cs;  // rhs: element (b, kk, j) at b_offset + b·b_batch + kk·b_rs + j·b_cs
};

#define TC_BM 64
#define TC_BN 64
#define TC_BK 32
#define TC_PAD 8
#define TC_THREADS 128

template <typename T> struct MmaOp;
#ifdef TANDEM_CUDA_SIM
template <> struct MmaOp<bf16> {
    static void run(float* c, const u32* a, const u32* b) { tandem_sim::mma_m16n8k16(c, a, b, true); }
};
template <> struct MmaOp<f16> {
    static void run(float* c, const u32* a, const u32* b) { tandem_sim::mma_m16n8k16(c, a, b, false); }
};
#else
template <> struct MmaOp<bf16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, const u32* b) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};
template <> struct MmaOp<f16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, const u32* b) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};
#endif

template <typename T>
__device__ __forceinline__ void matmul_tc(const T* __restrict__ lhs, const T* __restrict__ rhs, const T* __restrict__ bias,
                                          T* __restrict__ out, const MatmulParams& p) {
    __shared__ __align__(16) u16 As[TC_BM][TC_BK + TC_PAD];  // [m][k]
    __shared__ __align__(16) u16 Bs[TC_BN][TC_BK + TC_PAD];  // [n][k]: B stored transposed
    const u32 tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const u32 group = lane >> 2, tig = lane & 3;
    const u32 warp_m = warp >> 1, warp_n = warp & 1;
    const u32 m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN, batch = blockIdx.z;
    const u16* a = (const u16*)lhs + p.a_offset + (u64)batch * p.a_batch;
    const u16* b = (const u16*)rhs + p.b_offset + (u64)batch * p.b_batch;
    const bool a_k_major = p.a_cs == 1;  // consecutive k adjacent in memory
    const bool b_k_major = p.b_rs == 1;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    for (u32 k0 = 0; k0 < p.k; k0 += TC_BK) {
#pragma unroll 4
        for (u32 e = 0; e < TC_BM * TC_BK / TC_THREADS; ++e) {
            const u32 idx = tid + e * TC_THREADS;
            const u32 r = a_k_major ? idx / TC_BK : idx % TC_BM;
            const u32 c = a_k_major ? idx % TC_BK : idx / TC_BM;
            const u32 gm = m0 + r, gk = k0 + c;
            As[r][c] = (gm < p.m && gk < p.k) ? a[(u64)gm * p.a_rs + (u64)gk * p.a_cs] : (u16)0;
        }
#pragma unroll 4
        for (u32 e = 0; e < TC_BN * TC_BK / TC_THREADS; ++e) {
            const u32 idx = tid + e * TC_THREADS;
            const u32 r = b_k_major ? idx / TC_BK : idx % TC_BN;  // n
            const u32 c = b_k_major ? idx % TC_BK : idx / TC_BN;  // k
            const u32 gn = n0 + r, gk = k0 + c;
            Bs[r][c] = (gn < p.n && gk < p.k) ? b[(u64)gk * p.b_rs + (u64)gn * p.b_cs] : (u16)0;
        }
        __syncthreads();
#pragma unroll
        for (u32 ks = 0; ks < TC_BK; ks += 16) {
            u32 af[2][4], bfr[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
                const u32 row = warp_m * 32 + mt * 16 + group;
                af[mt][0] = *(const u32*)&As[row][ks + tig * 2];
                af[mt][1] = *(const u32*)&As[row + 8][ks + tig * 2];
                af[mt][2] = *(const u32*)&As[row][ks + tig * 2 + 8];
                af[mt][3] = *(const u32*)&As[row + 8][ks + tig * 2 + 8];
            }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                const u32 col = warp_n * 32 + nt * 8 + group;
                bfr[nt][0] = *(const u32*)&Bs[col][ks + tig * 2];
                bfr[nt][1] = *(const u32*)&Bs[col][ks + tig * 2 + 8];
            }
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) MmaOp<T>::run(acc[mt][nt], af[mt], bfr[nt]);
        }
        __syncthreads();
    }

    T* o = out + (u64)batch * p.m * p.n;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const u32 row = m0 + warp_m * 32 + mt * 16 + group + (e >= 2 ? 8 : 0);
                const u32 col = n0 + warp_n * 32 + nt * 8 + tig * 2 + (e & 1);
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

extern "C" __global__ void __launch_bounds__(TC_THREADS) matmul_bf16(const bf16* __restrict__ lhs, const bf16* __restrict__ rhs,
                                                                    const bf16* __restrict__ bias, bf16* __restrict__ out,
                                                                    MatmulParams p) {
    matmul_tc<bf16>(lhs, rhs, bias, out, p);
}
extern "C" __global__ void __launch_bounds__(TC_THREADS) matmul_f16(const f16* __restrict__ lhs, const f16* __restrict__ rhs,
                                                                   const f16* __restrict__ bias, f16* __restrict__ out,
                                                                   MatmulParams p) {
    matmul_tc<f16>(lhs, rhs, bias, out, p);
}
extern "C" __global__ void __launch_bounds__(F32_THREADS) matmul_f32(const float* __restrict__ lhs, const float* __restrict__ rhs,
                                                                    const float* __restrict__ bias, float* __restrict__ out,
                                                                    MatmulParams p) {
    matmul_simt(lhs, rhs, bias, out, p);
}
