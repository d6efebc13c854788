//! Matmul of a few rows by a transposed weight (`x [m, k] · Wᵀ` with `W [n, k]` row-major and
//! `m` small): decoder steps over a batch or beams and LM heads, where `linear` runs with a
//! handful of rows.
//!
//! Why not `gemm`: for this shape its AVX-512 path packs the whole weight for a handful of rows
//! and runs at a fraction of the speed of its own row-major path (12 vs 32 GFLOP/s for
//! 10×3072×768 on a 2-core AVX-512 Xeon). Every output here is a dot product of two contiguous
//! rows, so the kernel streams each weight row once through L1 and dots it with up to four
//! input rows at a time (one weight load per four FMAs) with AVX-512 FMAs (detected at run time;
//! other CPUs keep using `gemm`).

use crate::op::MatmulSpec;
use rayon::prelude::*;

/// Row counts the kernel takes. Measured (best of 300, shared 2-core AVX-512 Xeon): at 10 rows
/// it beats `gemm` 2–3×; at 1 row `gemm`'s matrix-vector path is faster (15 vs 11 GFLOP/s at
/// 1×768×768) and at 16 rows they are even, so those stay with `gemm`.
pub const MIN_ROWS: usize = 4;
pub const MAX_ROWS: usize = 12;

/// f32 lanes of one 512-bit register.
const LANES: usize = 16;

/// Output columns per rayon task: enough work (≥ ~64·k FMAs) to amortise scheduling.
const COLS_PER_TASK: usize = 64;

/// The kernel, if `spec` is the shape it serves (few rows, lhs rows contiguous, rhs the
/// transpose of a row-major `[n, k]` matrix, i.e. `linear`'s weight) and the CPU runs it.
pub fn kernel_for(spec: &MatmulSpec) -> Option<Kernel> {
    let shape_fits = (MIN_ROWS..=MAX_ROWS).contains(&spec.m)
        && spec.k >= LANES
        && spec.lhs.col_stride == 1
        && spec.rhs.row_stride == 1
        && spec.rhs.col_stride != 1;
    if shape_fits {
        kernel()
    } else {
        None
    }
}

/// `dst (m × n) = [dst +] lhs · rhs` for batch entry `b`, with the kernel [`kernel_for`] gave
/// for `spec`. The caller checked that every addressed element is in bounds of `a` and `w`.
pub fn matmul(
    kernel: Kernel,
    spec: &MatmulSpec,
    b: usize,
    a: &[f32],
    w: &[f32],
    dst: &mut [f32],
    accumulate: bool,
) {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    let a0 = spec.lhs.offset + b * spec.lhs.batch_stride;
    let rows: Vec<&[f32]> = (0..m)
        .map(|i| &a[a0 + i * spec.lhs.row_stride..][..k])
        .collect();
    let w0 = spec.rhs.offset + b * spec.rhs.batch_stride;
    let ldw = spec.rhs.col_stride;
    // Results column-major (`n × m`) so each task owns a contiguous slice; transposed below.
    let mut out_t = vec![0f32; n * m];
    out_t
        .par_chunks_mut(COLS_PER_TASK * m)
        .enumerate()
        .for_each(|(t, chunk)| {
            let j0 = t * COLS_PER_TASK;
            for (jj, out) in chunk.chunks_mut(m).enumerate() {
                let wj = &w[w0 + (j0 + jj) * ldw..][..k];
                kernel(&rows, wj, out);
            }
        });
    for (i, row) in dst.chunks_mut(n).enumerate() {
        for (j, d) in row.iter_mut().enumerate() {
            let v = out_t[j * m + i];
            *d = if accumulate { *d + v } else { v };
        }
    }
}

/// `out[i] = rows[i] · w` for every row (rows and `w` all of length `k`).
pub type Kernel = fn(&[&[f32]], &[f32], &mut [f32]);

/// The AVX-512 kernel where the CPU has it. Elsewhere `gemm`'s AVX2 path handles this shape
/// well (30 GFLOP/s at 10×3072×768), so there is no fallback kernel: [`kernel_for`] says no.
fn kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(x86::dots_avx512);
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Dot products of `R` rows starting at `rows[0]` with `w`: one weight load per `R` FMAs.
    ///
    /// # Safety
    /// AVX-512F must be available; `rows` has at least `R` entries, each as long as `w`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const R: usize>(rows: &[&[f32]], w: &[f32], out: &mut [f32]) {
        let k = w.len();
        let full = k - k % LANES;
        let mut acc = [_mm512_setzero_ps(); R];
        let mut p = 0;
        while p < full {
            let wv = _mm512_loadu_ps(w.as_ptr().add(p));
            for (t, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(_mm512_loadu_ps(rows[t].as_ptr().add(p)), wv, *a);
            }
            p += LANES;
        }
        for (t, a) in acc.iter().enumerate() {
            let mut sum = _mm512_reduce_add_ps(*a);
            for q in full..k {
                sum = rows[t][q].mul_add(w[q], sum);
            }
            out[t] = sum;
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dots_avx512_inner(rows: &[&[f32]], w: &[f32], out: &mut [f32]) {
        let mut i = 0;
        while i < rows.len() {
            let (r, o) = (&rows[i..], &mut out[i..]);
            i += match rows.len() - i {
                1 => {
                    block::<1>(r, w, o);
                    1
                }
                2 => {
                    block::<2>(r, w, o);
                    2
                }
                3 => {
                    block::<3>(r, w, o);
                    3
                }
                _ => {
                    block::<4>(r, w, o);
                    4
                }
            };
        }
    }

    pub fn dots_avx512(rows: &[&[f32]], w: &[f32], out: &mut [f32]) {
        // SAFETY: `kernel` selects this only after detecting avx512f; `matmul` slices every row
        // and `w` to exactly `k` elements and `out` to one entry per row.
        unsafe { dots_avx512_inner(rows, w, out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::MatrixRef;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    /// Row counts 1..=MAX_ROWS (the kernel handles any; `kernel_for` picks the range), `k` with
    /// and without a lane tail, column counts that do and do not fill the last task, padded
    /// strides, accumulate on and off, against f64.
    /// Without AVX-512 the kernel is never selected (gemm serves these shapes).
    #[test]
    fn kernel_is_selected_exactly_when_the_cpu_has_avx512() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            kernel().is_some(),
            std::arch::is_x86_feature_detected!("avx512f")
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert!(kernel().is_none());
    }

    #[test]
    #[cfg_attr(
        not(target_feature = "avx512f"),
        ignore = "needs AVX-512: on a CPU that has it run `RUSTFLAGS='-C target-cpu=native' cargo test -p tandem-tensor -- --ignored matches_naive`"
    )]
    fn matches_naive_dot_products() {
        let Some(kernel) = kernel() else {
            panic!("this CPU has no AVX-512, so the skinny kernel cannot run here: run this test on one that has it");
        };
        for m in 1..=MAX_ROWS {
            for &(k, n) in &[(16, 1), (37, 70), (64, 129), (100, 3)] {
                for accumulate in [false, true] {
                    let (lda, ldw) = (k + 3, k + 5);
                    let a = values(m * lda, 1);
                    let w = values(n * ldw, 2);
                    let spec = MatmulSpec {
                        batch: 1,
                        m,
                        n,
                        k,
                        lhs: MatrixRef {
                            offset: 0,
                            batch_stride: 0,
                            row_stride: lda,
                            col_stride: 1,
                        },
                        rhs: MatrixRef {
                            offset: 0,
                            batch_stride: 0,
                            row_stride: 1,
                            col_stride: ldw,
                        },
                    };
                    let init = values(m * n, 3);
                    let mut dst = init.clone();
                    matmul(kernel, &spec, 0, &a, &w, &mut dst, accumulate);
                    for i in 0..m {
                        for j in 0..n {
                            let dot: f64 = (0..k)
                                .map(|p| a[i * lda + p] as f64 * w[j * ldw + p] as f64)
                                .sum();
                            let want = dot
                                + if accumulate {
                                    init[i * n + j] as f64
                                } else {
                                    0.0
                                };
                            let got = dst[i * n + j] as f64;
                            assert!(
                                (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                                "m{m} k{k} n{n} acc{accumulate} ({i},{j}): {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_small_row_counts_with_transposed_weights() {
        let t = MatrixRef {
            offset: 0,
            batch_stride: 0,
            row_stride: 1,
            col_stride: 64,
        };
        let rm = MatrixRef {
            offset: 0,
            batch_stride: 0,
            row_stride: 64,
            col_stride: 1,
        };
        let spec = |m, rhs| MatmulSpec {
            batch: 1,
            m,
            n: 64,
            k: 64,
            lhs: rm,
            rhs,
        };
        assert_eq!(kernel_for(&spec(10, t)).is_some(), kernel().is_some());
        assert!(kernel_for(&spec(MAX_ROWS + 1, t)).is_none());
        assert!(kernel_for(&spec(1, t)).is_none());
        assert!(kernel_for(&spec(10, rm)).is_none());
    }
}
