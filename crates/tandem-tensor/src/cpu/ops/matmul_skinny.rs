//! Matmul of a few rows by a transposed weight (`x [m, k] · Wᵀ` with `W [n, k]` row-major and
//! `m` small): decoder steps over a batch or beams and LM heads, where `linear` runs with a
//! handful of rows.
//!
//! Every output is a dot product of two contiguous rows, so the kernels stream each weight row
//! once and dot it with several input rows at a time (register tiles: one weight load serves
//! several FMAs). Three kernels, selected at run time from what the CPU reports:
//!
//! - **f32 weights: AVX-512F, else AVX2 + FMA.** `gemm` packs the whole weight for a handful
//!   of rows: on a 2-core AVX-512 Xeon its AVX-512 path ran 12 vs 32 GFLOP/s of its own
//!   row-major path for 10×3072×768; on AVX2 (Zen 3) it takes 0.29 ms for 4×768×768, where
//!   reading the weight once takes about 0.09 ms (`decode_matmul`).
//! - **bf16 weights: AVX2 + FMA** (any x86-64 since Haswell / Zen 1, AVX-512 machines
//!   included). Without it, a bf16 weight is widened to an f32 copy on every call before
//!   `gemm` runs: at decode sizes the copy costs more than the multiply (it reads 2 bytes and
//!   writes 4 per weight, then `gemm` reads the 4 again). This kernel widens 8 weights at a
//!   time in registers (`vpmovzxwd` + `vpslld 16`, exact: bf16 is the top half of an f32) and
//!   accumulates in f32, so a decode step reads each weight once, at 2 bytes. Activations stay
//!   f32, so the result equals an f32 matmul of the widened weight up to summation order.
//!
//! - **bf16 activations and bf16 weights: AVX512-BF16** (`avx512_bf16.rs`; Zen 4 and later,
//!   Sapphire Rapids and later): a bf16 model's rows are dotted as stored with `VDPBF16PS`,
//!   32 products per instruction and nothing widened.
//!
//! Both AVX2 kernels are one generic tile over the weight type. Other CPUs use `gemm`.
//!
//! Cost beyond the weight read: each 3-column tile reads all `m·k` activations again (from L1
//! or L2 for `m·k·4` bytes up to a few hundred KB; at 64 rows × 3072 they come from L3). The
//! row limits below were measured with that included (`decode_matmul`).

#[cfg(target_arch = "x86_64")]
mod avx512_bf16;

use crate::op::MatmulSpec;
use half::bf16;
use rayon::prelude::*;

/// Row counts the f32 kernels take. Measured (best of 300, shared 2-core AVX-512 Xeon): at 10
/// rows the AVX-512 kernel beats `gemm` 2–3×; at 1 row `gemm`'s matrix-vector path is faster
/// (15 vs 11 GFLOP/s at 1×768×768) and at 16 rows they are even, so those stay with `gemm`.
pub const MIN_ROWS: usize = 4;
pub const MAX_ROWS: usize = 12;

/// Most rows the bf16 kernel takes. Up to 40 rows it beat widening + `gemm` on every decoder
/// shape measured; at 64 it is even for the 768-wide projections and 3× faster for the LM head
/// (`benches/src/bin/decode_matmul.rs`, Zen 3), so 64 covers `tandem caption`'s 4 images × 10
/// captions with margin.
pub const BF16_MAX_ROWS: usize = 64;

/// f32 lanes of one 512-bit register.
const LANES: usize = 16;

/// Output columns per rayon task: enough work (≥ ~64·k FMAs) to amortise scheduling.
const COLS_PER_TASK: usize = 64;

/// `out[j·m + i] = rows[i] · ws[j]` for every row `i < m` and weight row `j` (all of length
/// `k`; `out` column-major, `ws.len() × m`), rows of type `A`, weights of type `W`, f32 result.
pub type Kernel<A, W> = fn(&[&[A]], &[&[W]], &mut [f32]);

/// Whether `spec` is a linear layer's shape with `rows` in range: lhs rows contiguous, rhs
/// columns contiguous (`row_stride == 1`, as in the transpose of a row-major `[n, k]` weight;
/// `col_stride != 1` leaves the `n = 1` layouts to `gemm`). Any strides beyond that are
/// correct: every element is read at its strided address.
fn linear_shape(spec: &MatmulSpec, rows: std::ops::RangeInclusive<usize>) -> bool {
    rows.contains(&spec.m)
        && spec.lhs.col_stride == 1
        && spec.rhs.row_stride == 1
        && spec.rhs.col_stride != 1
}

/// The f32 kernel, if `spec` is the shape it serves and the CPU runs it.
pub fn kernel_for(spec: &MatmulSpec) -> Option<Kernel<f32, f32>> {
    if linear_shape(spec, MIN_ROWS..=MAX_ROWS) && spec.k >= LANES {
        kernel()
    } else {
        None
    }
}

/// The bf16-weight kernel, if `spec` is the shape it serves (1 to [`BF16_MAX_ROWS`] rows) and
/// the CPU runs it. `None` means: widen the weight and use `gemm`.
pub fn bf16_kernel_for(spec: &MatmulSpec) -> Option<Kernel<f32, bf16>> {
    if linear_shape(spec, 1..=BF16_MAX_ROWS) {
        bf16_kernel()
    } else {
        None
    }
}

/// The kernel for bf16 rows times bf16 weights (AVX512-BF16), if `spec` is the shape it serves
/// (1 to [`BF16_MAX_ROWS`] rows), the CPU runs it and bf16 arithmetic is on
/// ([`bf16_pairs_kernel`]). `None` means: try [`bf16_kernel_for`] with the rows widened to f32.
pub fn bf16_pairs_kernel_for(spec: &MatmulSpec) -> Option<Kernel<bf16, bf16>> {
    if linear_shape(spec, 1..=BF16_MAX_ROWS) {
        bf16_pairs_kernel()
    } else {
        None
    }
}

/// `dst (m × n) = [dst +] lhs · rhs` for batch entry `b`, with a kernel [`kernel_for`] or
/// [`bf16_kernel_for`] gave for `spec`; `parallel` splits the columns over the rayon pool (off
/// when the caller already runs batch entries in parallel). `m` and `n` are at least 1.
///
/// # Panics
/// If an addressed element is out of bounds of `a` or `w` (slicing is checked; `matmul.rs`
/// returns an error before that can happen).
#[allow(clippy::too_many_arguments)]
pub fn matmul<A: Sync, W: Sync>(
    kernel: Kernel<A, W>,
    spec: &MatmulSpec,
    b: usize,
    a: &[A],
    w: &[W],
    dst: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    let a0 = spec.lhs.offset + b * spec.lhs.batch_stride;
    let rows: Vec<&[A]> = (0..m)
        .map(|i| &a[a0 + i * spec.lhs.row_stride..][..k])
        .collect();
    let w0 = spec.rhs.offset + b * spec.rhs.batch_stride;
    let ldw = spec.rhs.col_stride;
    // Results column-major (`n × m`) so each task owns a contiguous slice; transposed below.
    let mut out_t = vec![0f32; n * m];
    let task = |(t, chunk): (usize, &mut [f32])| {
        let j0 = t * COLS_PER_TASK;
        let ws: Vec<&[W]> = (j0..j0 + chunk.len() / m)
            .map(|j| &w[w0 + j * ldw..][..k])
            .collect();
        kernel(&rows, &ws, chunk);
    };
    if parallel {
        out_t
            .par_chunks_mut(COLS_PER_TASK * m)
            .enumerate()
            .for_each(task);
    } else {
        out_t
            .chunks_mut(COLS_PER_TASK * m)
            .enumerate()
            .for_each(task);
    }
    for (i, row) in dst.chunks_mut(n).enumerate() {
        for (j, d) in row.iter_mut().enumerate() {
            let v = out_t[j * m + i];
            *d = if accumulate { *d + v } else { v };
        }
    }
}

/// The f32 kernel for this CPU: AVX-512F, else AVX2 + FMA ([`kernel_for`] says no elsewhere).
fn kernel() -> Option<Kernel<f32, f32>> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(x86::dots_avx512);
        }
        if has_avx2_fma() {
            return Some(x86::dots_f32_avx2);
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The AVX2 + FMA bf16 kernel where the CPU has both.
fn bf16_kernel() -> Option<Kernel<f32, bf16>> {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            return Some(x86::dots_bf16_avx2);
        }
    }
    None
}

/// The AVX512-BF16 kernel where the CPU has it, unless `TANDEM_CPU_BF16_GEMM` turned bf16
/// arithmetic off ([`super::gemm_bf16::selected`]). Attention's `Q·Kᵀ` uses it too.
pub(crate) fn bf16_pairs_kernel() -> Option<Kernel<bf16, bf16>> {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512_bf16::available() && super::gemm_bf16::selected().is_some() {
            return Some(avx512_bf16::dots);
        }
    }
    None
}

/// The preconditions of the unsafe kernels, checked so that the safe entry points are sound
/// whoever calls them (O(m + n) against the call's O(m·n·k) work): the CPU feature, every
/// row and weight row of one length, an output entry per (row, weight row).
///
/// # Panics
/// When one does not hold.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn check<A, W>(rows: &[&[A]], ws: &[&[W]], out: &[f32], has_features: bool) {
    assert!(
        has_features,
        "skinny matmul kernel called on a CPU without its features"
    );
    let k = ws.first().map_or(0, |w| w.len());
    assert!(
        rows.iter().all(|r| r.len() == k) && ws.iter().all(|w| w.len() == k),
        "skinny matmul: rows and weight rows must all have length {k}"
    );
    assert!(
        out.len() >= rows.len() * ws.len(),
        "skinny matmul: {} outputs for {} × {}",
        out.len(),
        rows.len(),
        ws.len()
    );
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{check, LANES};
    use half::bf16;
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
    unsafe fn dots_avx512_inner(rows: &[&[f32]], ws: &[&[f32]], out: &mut [f32]) {
        let m = rows.len();
        for (w, out) in ws.iter().zip(out.chunks_mut(m)) {
            let mut i = 0;
            while i < m {
                let (r, o) = (&rows[i..], &mut out[i..]);
                i += match m - i {
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
    }

    pub fn dots_avx512(rows: &[&[f32]], ws: &[&[f32]], out: &mut [f32]) {
        check(rows, ws, out, is_x86_feature_detected!("avx512f"));
        // SAFETY: `check` established the feature and the lengths `block` reads.
        unsafe { dots_avx512_inner(rows, ws, out) }
    }

    /// f32 lanes of one 256-bit register.
    const LANES_256: usize = 8;

    /// Rows and weight rows of one AVX2 register tile: 4 × 3 accumulators, 3 weight vectors and
    /// one activation vector fill the 16 ymm registers, and each step of 8 lanes does 12 FMAs
    /// for 7 loads (a 1-column tile would load once per FMA and be load-bound).
    const TILE_ROWS: usize = 4;
    const TILE_COLS: usize = 3;

    /// A weight element type the AVX2 kernel reads: eight at a time into f32 lanes.
    trait Avx2Weight: Copy {
        /// Eight consecutive weights from `p`, as f32.
        ///
        /// # Safety
        /// AVX2 must be available and `p..p + 8` readable.
        unsafe fn load8(p: *const Self) -> __m256;
        fn to_f32(self) -> f32;
    }

    impl Avx2Weight for f32 {
        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn load8(p: *const f32) -> __m256 {
            _mm256_loadu_ps(p)
        }
        fn to_f32(self) -> f32 {
            self
        }
    }

    impl Avx2Weight for bf16 {
        /// Widened exactly: zero-extend each 16-bit lane to 32 bits and shift it into the high
        /// half (bf16 is the top half of an f32; `bf16` is a transparent `u16`).
        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn load8(p: *const bf16) -> __m256 {
            let raw = _mm_loadu_si128(p as *const __m128i);
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(raw)))
        }
        fn to_f32(self) -> f32 {
            bf16::to_f32(self)
        }
    }

    /// The sum of the eight lanes of `v`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn sum_lanes(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<0x55>(s, s)))
    }

    /// `out[c·m + r] = rows[r] · ws[c]` for `r < R`, `c < C`: one `R × C` register tile.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `rows` has at least `R` and `ws` at least `C` entries,
    /// all of the same length; `out` holds `(C - 1)·m + R` entries.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<W: Avx2Weight, const R: usize, const C: usize>(
        rows: &[&[f32]],
        ws: &[&[W]],
        out: &mut [f32],
        m: usize,
    ) {
        let k = ws[0].len();
        let full = k - k % LANES_256;
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut p = 0;
        while p < full {
            let mut wv = [_mm256_setzero_ps(); C];
            for (v, w) in wv.iter_mut().zip(ws) {
                *v = W::load8(w.as_ptr().add(p));
            }
            for (acc_r, row) in acc.iter_mut().zip(rows) {
                let a = _mm256_loadu_ps(row.as_ptr().add(p));
                for (acc_rc, &w) in acc_r.iter_mut().zip(&wv) {
                    *acc_rc = _mm256_fmadd_ps(a, w, *acc_rc);
                }
            }
            p += LANES_256;
        }
        for (r, (acc_r, row)) in acc.iter().zip(rows).enumerate() {
            for (c, (&acc_rc, w)) in acc_r.iter().zip(ws).enumerate() {
                let mut sum = sum_lanes(acc_rc);
                for q in full..k {
                    sum = row[q].mul_add(w[q].to_f32(), sum);
                }
                out[c * m + r] = sum;
            }
        }
    }

    /// Every row against the `C` weight rows of `ws`, in tiles of `TILE_ROWS` rows then one
    /// tile of the remainder.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_column<W: Avx2Weight, const C: usize>(
        rows: &[&[f32]],
        ws: &[&[W]],
        out: &mut [f32],
    ) {
        let m = rows.len();
        let mut i = 0;
        while i < m {
            let (r, o) = (&rows[i..], &mut out[i..]);
            i += match m - i {
                1 => {
                    tile::<W, 1, C>(r, ws, o, m);
                    1
                }
                2 => {
                    tile::<W, 2, C>(r, ws, o, m);
                    2
                }
                3 => {
                    tile::<W, 3, C>(r, ws, o, m);
                    3
                }
                _ => {
                    tile::<W, TILE_ROWS, C>(r, ws, o, m);
                    TILE_ROWS
                }
            };
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dots_avx2_inner<W: Avx2Weight>(rows: &[&[f32]], ws: &[&[W]], out: &mut [f32]) {
        let m = rows.len();
        let mut j = 0;
        while j < ws.len() {
            let (w, o) = (&ws[j..], &mut out[j * m..]);
            j += match ws.len() - j {
                1 => {
                    tile_column::<W, 1>(rows, w, o);
                    1
                }
                2 => {
                    tile_column::<W, 2>(rows, w, o);
                    2
                }
                _ => {
                    tile_column::<W, TILE_COLS>(rows, w, o);
                    TILE_COLS
                }
            };
        }
    }

    pub fn dots_f32_avx2(rows: &[&[f32]], ws: &[&[f32]], out: &mut [f32]) {
        check(rows, ws, out, super::has_avx2_fma());
        // SAFETY: `check` established the features and the lengths `tile` reads.
        unsafe { dots_avx2_inner(rows, ws, out) }
    }

    pub fn dots_bf16_avx2(rows: &[&[f32]], ws: &[&[bf16]], out: &mut [f32]) {
        check(rows, ws, out, super::has_avx2_fma());
        // SAFETY: as in `dots_f32_avx2`.
        unsafe { dots_avx2_inner(rows, ws, out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::MatrixRef;
    use proptest::prelude::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    /// A `linear` shape: lhs `[m, k]` rows `lda` apart, rhs the transpose of `[n, k]` rows `ldw`
    /// apart.
    fn linear_spec(m: usize, k: usize, n: usize, lda: usize, ldw: usize) -> MatmulSpec {
        MatmulSpec {
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
        }
    }

    /// Runs `kernel` on batch entry `b` of `spec` (padded strides: the padding is NaN, so
    /// reading it shows) and compares every output with an f64 dot product of the same (exactly
    /// widened) values.
    /// Tolerance: any order of `k` f32 FMAs plus the lane sums has rounding error at most
    /// `(k + 8)·u·Σ|aᵢwᵢ|` (u = 2⁻²⁴, the first-order bound of recursive summation), plus one
    /// rounding of the accumulate add.
    #[allow(clippy::too_many_arguments)]
    fn check_against_f64<A: Sync + Copy, W: Sync + Copy>(
        kernel: Kernel<A, W>,
        spec: &MatmulSpec,
        b: usize,
        (a, widen_a): (&[A], fn(A) -> f32),
        w: &[W],
        widen: fn(W) -> f32,
        accumulate: bool,
        parallel: bool,
    ) -> Result<(), String> {
        let (m, n, k) = (spec.m, spec.n, spec.k);
        let (lda, ldw) = (spec.lhs.row_stride, spec.rhs.col_stride);
        let a0 = spec.lhs.offset + b * spec.lhs.batch_stride;
        let w0 = spec.rhs.offset + b * spec.rhs.batch_stride;
        let init = values(m * n, 3);
        let mut dst = init.clone();
        matmul(kernel, spec, b, a, w, &mut dst, accumulate, parallel);
        let u = f64::from(f32::EPSILON) / 2.0;
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|p| {
                    f64::from(widen_a(a[a0 + i * lda + p])) * f64::from(widen(w[w0 + j * ldw + p]))
                });
                let (dot, scale) = terms.fold((0.0, 0.0), |(s, m), t| (s + t, m + t.abs()));
                let base = if accumulate {
                    f64::from(init[i * n + j])
                } else {
                    0.0
                };
                let want = dot + base;
                let tol = (k as f64 + 8.0) * u * scale + 2.0 * u * want.abs();
                let got = f64::from(dst[i * n + j]);
                // Written so that a NaN result fails.
                if (got - want).abs().is_nan() || (got - want).abs() > tol {
                    return Err(format!(
                        "m{m} k{k} n{n} acc{accumulate} par{parallel} ({i},{j}): {got} vs {want} (tolerance {tol:e})"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `len` values with every `ld`-th run after `k` set to NaN (the padding of a strided
    /// operand), so a kernel that reads past a row's `k` elements produces NaN and fails.
    fn padded(rows: usize, k: usize, ld: usize, seed: u32) -> Vec<f32> {
        let mut v = values(rows * ld, seed);
        for r in 0..rows {
            v[r * ld + k..(r + 1) * ld].fill(f32::NAN);
        }
        v
    }

    #[test]
    fn f32_kernel_is_selected_exactly_when_the_cpu_has_avx512_or_avx2_and_fma() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            kernel().is_some(),
            std::arch::is_x86_feature_detected!("avx512f")
                || (std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma"))
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert!(kernel().is_none());
    }

    #[test]
    fn bf16_kernel_is_selected_exactly_when_the_cpu_has_avx2_and_fma() {
        // The detection macros, not `has_avx2_fma`, so the test also checks that function.
        // cargo-mutants: on a CPU with both features, `has_avx2_fma -> true` and `&&` → `||`
        // there cannot be told apart; a CPU lacking one catches them.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            bf16_kernel().is_some(),
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert!(bf16_kernel().is_none());
    }

    #[test]
    fn bf16_pairs_kernel_is_selected_exactly_when_the_cpu_has_avx512_bf16_and_bw_and_bf16_is_on() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            bf16_pairs_kernel().is_some(),
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512bf16")
                && super::super::gemm_bf16::selected().is_some()
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert!(bf16_pairs_kernel().is_none());
    }

    /// Row counts 1..=MAX_ROWS (the kernel handles any; `kernel_for` picks the range), `k` with
    /// and without a lane tail, column counts that do and do not fill the last task, padded
    /// strides, accumulate on and off, against f64.
    #[test]
    #[cfg(target_arch = "x86_64")]
    #[cfg_attr(
        not(target_feature = "avx512f"),
        ignore = "needs AVX-512: on a CPU that has it run `cargo test -p tandem-tensor -- --ignored matches_naive`"
    )]
    fn matches_naive_dot_products() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            panic!("this CPU has no AVX-512, so the AVX-512 kernel cannot run here: run this test on one that has it");
        }
        let kernel: Kernel<f32, f32> = x86::dots_avx512;
        for m in 1..=MAX_ROWS {
            for &(k, n) in &[(16, 1), (37, 70), (64, 129), (100, 3)] {
                for accumulate in [false, true] {
                    let (lda, ldw) = (k + 3, k + 5);
                    let spec = linear_spec(m, k, n, lda, ldw);
                    let (a, w) = (padded(m, k, lda, 1), padded(n, k, ldw, 2));
                    check_against_f64(kernel, &spec, 0, (&a, |x| x), &w, |x| x, accumulate, true)
                        .unwrap();
                }
            }
        }
    }

    /// The kernel's whole input space: row counts 1..=BF16_MAX_ROWS (tiles of four and every
    /// remainder), `k` across the 8-wide main loop and its tail, column counts across tile and
    /// task boundaries, padded strides, storage offsets, the first or second of two batch
    /// entries, accumulate and threading.
    fn arb_case() -> impl Strategy<Value = (MatmulSpec, usize, u32, bool, bool)> {
        (
            (1..=BF16_MAX_ROWS, 1usize..200, 1usize..150),
            (0usize..4, 0usize..4, 0usize..5, 0usize..5),
            (0usize..2, any::<u32>(), any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |((m, k, n), (pad_a, pad_w, off_a, off_w), (b, seed, acc, par))| {
                    let mut spec = linear_spec(m, k, n, k + pad_a, k + pad_w);
                    spec.batch = 2;
                    spec.lhs.offset = off_a;
                    spec.lhs.batch_stride = m * spec.lhs.row_stride;
                    spec.rhs.offset = off_w;
                    spec.rhs.batch_stride = n * spec.rhs.col_stride;
                    (spec, b, seed, acc, par)
                },
            )
    }

    /// Operands of `spec`'s two batch entries after its offsets: NaN in the offsets and the
    /// padding (see [`padded`]).
    fn operands(spec: &MatmulSpec, seed: u32) -> (Vec<f32>, Vec<f32>) {
        let (m, n, k) = (spec.m, spec.n, spec.k);
        let mut a = vec![f32::NAN; spec.lhs.offset];
        a.extend(padded(2 * m, k, spec.lhs.row_stride, seed));
        let mut w = vec![f32::NAN; spec.rhs.offset];
        w.extend(padded(2 * n, k, spec.rhs.col_stride, seed ^ 0x5bd1));
        (a, w)
    }

    proptest! {
        /// The bf16 kernel against f64 on the widened weights.
        #[test]
        #[cfg_attr(
            not(target_arch = "x86_64"),
            ignore = "the AVX2 kernels are x86-64 only; other targets widen and use gemm"
        )]
        fn bf16_kernel_matches_f64_dot_products((spec, b, seed, accumulate, parallel) in arb_case()) {
            #[cfg(target_arch = "x86_64")]
            if !has_avx2_fma() {
                panic!("this x86-64 CPU lacks AVX2 or FMA, so the AVX2 kernels cannot run here; run this test on one that has both");
            }
            #[cfg(target_arch = "x86_64")]
            {
                let (a, w) = operands(&spec, seed);
                let w: Vec<bf16> = w.iter().map(|&x| bf16::from_f32(x)).collect();
                check_against_f64(x86::dots_bf16_avx2, &spec, b, (&a, |x| x), &w, bf16::to_f32, accumulate, parallel)
                    .map_err(TestCaseError::fail)?;
            }
        }

        /// The AVX2 f32 kernel against f64.
        #[test]
        #[cfg_attr(
            not(target_arch = "x86_64"),
            ignore = "the AVX2 kernels are x86-64 only; other targets widen and use gemm"
        )]
        fn f32_avx2_kernel_matches_f64_dot_products((spec, b, seed, accumulate, parallel) in arb_case()) {
            #[cfg(target_arch = "x86_64")]
            if !has_avx2_fma() {
                panic!("this x86-64 CPU lacks AVX2 or FMA, so the AVX2 kernels cannot run here; run this test on one that has both");
            }
            #[cfg(target_arch = "x86_64")]
            {
                let (a, w) = operands(&spec, seed);
                check_against_f64(x86::dots_f32_avx2, &spec, b, (&a, |x| x), &w, |x| x, accumulate, parallel)
                    .map_err(TestCaseError::fail)?;
            }
        }
    }

    proptest! {
        /// The AVX512-BF16 kernel (bf16 rows and weights) against f64 on the same bf16 values:
        /// every product is exact, so only the f32 summation order differs. The values are
        /// multiples of 1/500 in [-1, 1] rounded to bf16, never subnormal (which the
        /// instruction would read as zero).
        #[test]
        #[cfg_attr(
            not(target_arch = "x86_64"),
            ignore = "the AVX512-BF16 kernel is x86-64 only"
        )]
        fn bf16_pairs_kernel_matches_f64_dot_products((spec, b, seed, accumulate, parallel) in arb_case()) {
            #[cfg(target_arch = "x86_64")]
            {
                if !avx512_bf16::available() {
                    eprintln!("skipped: this CPU has no AVX512-BF16 (bf16 × bf16 rows use the AVX2 kernel)");
                    return Ok(());
                }
                let (a, w) = operands(&spec, seed);
                let a: Vec<bf16> = a.iter().map(|&x| bf16::from_f32(x)).collect();
                let w: Vec<bf16> = w.iter().map(|&x| bf16::from_f32(x)).collect();
                check_against_f64(avx512_bf16::dots, &spec, b, (&a, bf16::to_f32), &w, bf16::to_f32, accumulate, parallel)
                    .map_err(TestCaseError::fail)?;
            }
        }
    }

    #[test]
    fn only_linear_shapes_in_range() {
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
        let has_f32 = kernel().is_some();
        assert_eq!(kernel_for(&spec(MIN_ROWS, t)).is_some(), has_f32);
        assert_eq!(kernel_for(&spec(MAX_ROWS, t)).is_some(), has_f32);
        assert!(kernel_for(&spec(MAX_ROWS + 1, t)).is_none());
        assert!(kernel_for(&spec(MIN_ROWS - 1, t)).is_none());
        assert!(kernel_for(&spec(10, rm)).is_none());
        let has_pairs = bf16_pairs_kernel().is_some();
        assert_eq!(bf16_pairs_kernel_for(&spec(1, t)).is_some(), has_pairs);
        assert_eq!(
            bf16_pairs_kernel_for(&spec(BF16_MAX_ROWS, t)).is_some(),
            has_pairs
        );
        assert!(bf16_pairs_kernel_for(&spec(BF16_MAX_ROWS + 1, t)).is_none());
        assert!(bf16_pairs_kernel_for(&spec(10, rm)).is_none());
        let has_bf16 = bf16_kernel().is_some();
        assert_eq!(bf16_kernel_for(&spec(1, t)).is_some(), has_bf16);
        assert_eq!(bf16_kernel_for(&spec(BF16_MAX_ROWS, t)).is_some(), has_bf16);
        assert!(bf16_kernel_for(&spec(BF16_MAX_ROWS + 1, t)).is_none());
        assert!(bf16_kernel_for(&spec(10, rm)).is_none());
        // A transposed left operand (rows not contiguous) stays with gemm.
        let mut lhs_t = spec(10, t);
        lhs_t.lhs = t;
        assert!(kernel_for(&lhs_t).is_none());
        assert!(bf16_kernel_for(&lhs_t).is_none());
        // The f32 kernel needs at least one full AVX-512 register of `k`.
        let mut short_k = spec(10, t);
        short_k.k = LANES - 1;
        assert!(kernel_for(&short_k).is_none());
        short_k.k = LANES;
        assert_eq!(kernel_for(&short_k).is_some(), has_f32);
    }

    /// The safe entry points check what the unsafe kernels assume (callers inside the crate
    /// could otherwise pass rows shorter than the weights).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn kernels_refuse_rows_of_another_length() {
        if !has_avx2_fma() {
            panic!("this x86-64 CPU lacks AVX2 or FMA, so the AVX2 kernels cannot run here; run this test on one that has both");
        }
        let (row, w) = (vec![1.0f32; 8], vec![1.0f32; 16]);
        let mut out = [0.0f32; 1];
        let call =
            std::panic::catch_unwind(move || x86::dots_f32_avx2(&[&row[..]], &[&w[..]], &mut out));
        assert!(call.is_err(), "a row of 8 against a weight row of 16 ran");
    }
}
