//! bf16 rows times a right-hand side packed once in [`super::PANEL_LAYOUT`] on `VDPBF16PS`
//! (AVX512-BF16: AMD Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later): the
//! `linear` layers of a decoder step (one row per running sequence) and, where the CPU has no
//! AMX, of every other `linear` too.
//!
//! The GEMM kernels pack A into blocks of 32 rows and compute whole tiles, so at one to a few
//! dozen rows most of their products are padding. Here the rows are read as they are (a depth
//! pair of a row is one 32-bit broadcast) and a register tile is `MR` rows × `PR` panels
//! (64 columns): per depth pair it loads the panels' rows (four vectors, 256 bytes of weights)
//! and issues `4·R` instructions, where the AVX-512 GEMM tile (8 rows × 32 columns) issues 16
//! per 2 vectors and 8 broadcasts. Each panel is one sequential stream, read from memory once
//! per call: a task's first row tile brings its panels into L2, where the other row tiles find
//! them (`PANELS_PER_TASK` panels: 768 KiB at k = 3072, within a 1 MiB L2). Measured on Zen 4
//! it was faster than the AVX-512 GEMM kernel on the same packed weights at nearly every row
//! count from 1 to 577 over four runs, and within the host's noise at the others
//! (`packed_linear --dtype bf16`).
//!
//! The result equals an f32 matmul of the same bf16 values up to summation order, with the
//! instruction's documented difference: subnormal bf16 inputs count as zero and subnormal
//! results are flushed (Intel SDM, VDPBF16PS: "DAZ, FTZ, RNE, SAE" regardless of MXCSR).

use super::super::elementwise::unary_chunk;
use super::pack::{panels, B_BLOCK, KB, NB, NR};
use super::SharedOut;
use crate::cpu::storage::f32_to_bf16;
use crate::op::{MatrixRef, UnaryOp};
use half::bf16;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Rows of one register tile: with `PR` panels, 24 accumulators and 4 weight vectors.
const MR: usize = 6;
/// Panels of one register tile.
const PR: usize = 2;
/// Panels one rayon task multiplies: a 768-wide layer gives 6 tasks per row chunk, the LM
/// head 239.
const PANELS_PER_TASK: usize = 4;
/// Rows one rayon task multiplies (a multiple of `MR`): decoder steps are one chunk; a ViT
/// image's 577 rows are 7, so a machine with more cores than a layer has panel groups still
/// gets work for each.
const ROWS_PER_TASK: usize = 16 * MR;

/// Whether the CPU runs this kernel (`VDPBF16PS` and AVX-512F's masked loads and stores).
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// `out (m × n, row-major) [+]= lhs · B`: `lhs` the `m × k` bf16 matrix `lhs_ref` addresses in
/// `a` (batch entry 0, any strides), B packed in [`super::PANEL_LAYOUT`] (`panels_b`: `⌈n / 32⌉`
/// panels of `⌈k / 32⌉ · 1024` bf16). With `accumulate` the products are added to what `out`
/// holds.
///
/// # Panics
/// When the CPU lacks the instructions, `out` is not `m · n` long, `panels_b` has another
/// length, or `lhs_ref` addresses past `a` (callers check bounds first).
pub fn matmul(
    lhs: (&MatrixRef, &[bf16]),
    (m, k, n): (usize, usize, usize),
    panels_b: &[bf16],
    out: &mut [f32],
    accumulate: bool,
) {
    assert_eq!(out.len(), m * n, "bf16 rows output length");
    let sink = F32Sink {
        out: SharedOut::new(out),
        ld: n,
        accumulate,
    };
    run(lhs, (m, k, n), panels_b, &sink);
}

/// `out (m × n, row-major) = bf16(act(lhs · B + bias))`, operands as in [`matmul`]: the bias
/// (f32, `n` values), the activation and the rounding to bf16 (to nearest even, as
/// `CpuStorage::from_f32`) applied to each register tile as it is stored, so no f32 result is
/// written. Bit for bit what [`matmul`] into a buffer holding the bias, then the activation
/// over it, then the rounding give.
///
/// # Panics
/// As [`matmul`], or when `bias` does not hold `n` values.
pub fn matmul_bf16(
    lhs: (&MatrixRef, &[bf16]),
    (m, k, n): (usize, usize, usize),
    panels_b: &[bf16],
    (bias, activation): (Option<&[f32]>, Option<UnaryOp>),
    out: &mut [bf16],
) {
    assert_eq!(out.len(), m * n, "bf16 rows output length");
    assert!(bias.is_none_or(|b| b.len() == n), "bias length");
    let sink = Bf16Sink {
        out: SharedOut::new(out),
        ld: n,
        bias,
        activation,
    };
    run(lhs, (m, k, n), panels_b, &sink);
}

/// The product into `sink`, row tiles × panel pairs over the rayon pool.
fn run<S: Sink>(
    (lhs_ref, a): (&MatrixRef, &[bf16]),
    (m, k, n): (usize, usize, usize),
    panels_b: &[bf16],
    sink: &S,
) {
    assert!(available(), "VDPBF16PS is not available on this CPU");
    let panel_len = k.div_ceil(KB) * B_BLOCK;
    assert_eq!(panels_b.len(), panels(n) * panel_len, "packed B length");
    if m * n == 0 {
        return;
    }
    if k == 0 {
        // No products: every output is the sink's epilogue of zero.
        let mut zeros = vec![0f32; n];
        for r in 0..m {
            zeros.fill(0.0);
            // SAFETY: row r < m, columns 0..n: the whole row, this call's alone.
            unsafe { sink.row(r, 0, &mut zeros) };
        }
        return;
    }
    // Rows as stored when each is contiguous with whole pairs; else one zero-padded copy (the
    // padding meets zero rows of B, so it adds nothing, and nothing past a row is read).
    let pairs = k.div_ceil(2);
    let copy: Vec<bf16>;
    let (base, stride, src) = if lhs_ref.col_stride == 1 && k % 2 == 0 {
        (lhs_ref.offset, lhs_ref.row_stride, a)
    } else {
        let mut rows = vec![bf16::ZERO; m * 2 * pairs];
        for (i, row) in rows.chunks_exact_mut(2 * pairs).enumerate() {
            for (p, v) in row[..k].iter_mut().enumerate() {
                *v = a[lhs_ref.offset + i * lhs_ref.row_stride + p * lhs_ref.col_stride];
            }
        }
        copy = rows;
        (0, 2 * pairs, copy.as_slice())
    };
    let rows: Vec<*const u32> = (0..m)
        .map(|i| src[base + i * stride..][..2 * pairs].as_ptr().cast())
        .collect();
    let rows = Rows(&rows);
    let np = panels(n);
    let groups = np.div_ceil(PANELS_PER_TASK);
    (0..m.div_ceil(ROWS_PER_TASK) * groups)
        .into_par_iter()
        .for_each(|t| {
            let (chunk, group) = (t / groups, t % groups);
            let (first, end) = (
                group * PANELS_PER_TASK,
                np.min((group + 1) * PANELS_PER_TASK),
            );
            let row_end = m.min((chunk + 1) * ROWS_PER_TASK);
            for p0 in (first..end).step_by(PR) {
                let tile_panels = PR.min(end - p0);
                let col0 = p0 * NR;
                let b = &panels_b[p0 * panel_len..][..tile_panels * panel_len];
                for r0 in (chunk * ROWS_PER_TASK..row_end).step_by(MR) {
                    let at = At {
                        r0,
                        col0,
                        cols: (tile_panels * NR).min(n - col0),
                    };
                    // SAFETY: the instructions are available (asserted above); each row
                    // pointer addresses 2·pairs readable bf16, `b` holds `tile_panels`
                    // panels of `pairs` (or more) rows of 2·NR bf16, and the tile's rows
                    // r0.. (at most MR) and `cols` columns from col0 lie inside the output,
                    // written by no other task (tasks own distinct rows × panels) while the
                    // caller keeps it borrowed.
                    unsafe {
                        tile(
                            rows.get(r0..row_end.min(r0 + MR)),
                            b,
                            (panel_len, pairs),
                            at,
                            sink,
                        )
                    }
                }
            }
        });
}

/// The row pointers, shared by the tasks (they only read through them).
struct Rows<'a>(&'a [*const u32]);

impl Rows<'_> {
    /// Rows `range` (a method, so closures capture the `Sync` wrapper, not its field).
    fn get(&self, range: std::ops::Range<usize>) -> &[*const u32] {
        &self.0[range]
    }
}
// SAFETY: the pointers address `a` (or the copy), borrowed immutably for the whole call.
unsafe impl Sync for Rows<'_> {}

/// Where a tile sits in the output: rows from `r0`, `cols` columns (1 ..= PR·NR) from `col0`.
#[derive(Clone, Copy)]
struct At {
    r0: usize,
    col0: usize,
    cols: usize,
}

/// Where a tile's results go, one output row at a time.
trait Sink: Sync {
    /// Stores `vals`, the finished products of output row `r`, columns `col0 ..
    /// col0 + vals.len()` (the sink may change `vals` as scratch).
    ///
    /// # Safety
    /// Those elements lie inside the output and belong to the calling task alone.
    unsafe fn row(&self, r: usize, col0: usize, vals: &mut [f32]);
}

/// f32 results, stored or added to what the output holds.
struct F32Sink {
    out: SharedOut<f32>,
    ld: usize,
    accumulate: bool,
}

impl Sink for F32Sink {
    unsafe fn row(&self, r: usize, col0: usize, vals: &mut [f32]) {
        let dst = std::slice::from_raw_parts_mut(self.out.at(r * self.ld + col0), vals.len());
        if self.accumulate {
            dst.iter_mut().zip(vals.iter()).for_each(|(o, v)| *o += *v);
        } else {
            dst.copy_from_slice(vals);
        }
    }
}

/// bf16 results of `act(products + bias)`.
struct Bf16Sink<'a> {
    out: SharedOut<bf16>,
    ld: usize,
    bias: Option<&'a [f32]>,
    activation: Option<UnaryOp>,
}

impl Sink for Bf16Sink<'_> {
    unsafe fn row(&self, r: usize, col0: usize, vals: &mut [f32]) {
        if let Some(bias) = self.bias {
            // The same sum as `matmul` adding products to a bias (IEEE addition commutes).
            vals.iter_mut()
                .zip(&bias[col0..])
                .for_each(|(v, b)| *v += *b);
        }
        if let Some(op) = self.activation {
            unary_chunk(op, vals);
        }
        let dst = std::slice::from_raw_parts_mut(self.out.at(r * self.ld + col0), vals.len());
        dst.iter_mut()
            .zip(vals.iter())
            .for_each(|(o, v)| *o = f32_to_bf16(*v));
    }
}

/// One tile of `rows.len()` (1 ..= `MR`) rows × `b.len() / panel_len` (1 ..= `PR`) panels.
///
/// # Safety
/// As stated where [`run`] calls it.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile<S: Sink>(
    rows: &[*const u32],
    b: &[bf16],
    (panel_len, pairs): (usize, usize),
    at: At,
    sink: &S,
) {
    macro_rules! dispatch {
        ($($r:literal)*) => {
            match (rows.len(), b.len() / panel_len) {
                $(
                    ($r, 1) => tile_rp::<$r, 1, S>(rows, b, (panel_len, pairs), at, sink),
                    ($r, _) => tile_rp::<$r, PR, S>(rows, b, (panel_len, pairs), at, sink),
                )*
                _ => unreachable!("a tile has 1 to {MR} rows"),
            }
        };
    }
    dispatch!(1 2 3 4 5 6)
}

/// [`tile`] with `R` rows and `P` panels as constants, so the accumulators stay in registers.
///
/// # Safety
/// As [`tile`], with `rows.len() == R` and `b` holding `P` panels.
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn tile_rp<const R: usize, const P: usize, S: Sink>(
    rows: &[*const u32],
    b: &[bf16],
    (panel_len, pairs): (usize, usize),
    at: At,
    sink: &S,
) {
    let a: [*const u32; R] = std::array::from_fn(|r| rows[r]);
    let w: [*const bf16; P] = std::array::from_fn(|p| b.as_ptr().add(p * panel_len));
    let mut acc = [[[_mm512_setzero_ps(); 2]; P]; R];
    for q in 0..pairs {
        let wv: [[__m512bh; 2]; P] = std::array::from_fn(|p| {
            std::array::from_fn(|h| {
                std::mem::transmute(_mm512_loadu_si512(w[p].add(2 * q * NR + 2 * h * NB).cast()))
            })
        });
        for r in 0..R {
            let x: __m512bh =
                std::mem::transmute(_mm512_set1_epi32(a[r].add(q).read_unaligned() as i32));
            for p in 0..P {
                for h in 0..2 {
                    acc[r][p][h] = _mm512_dpbf16_ps(acc[r][p][h], x, wv[p][h]);
                }
            }
        }
    }
    // Each row's accumulators to a line of scratch, then to the sink (the columns past
    // `at.cols`, padding of the last panel, are dropped there).
    let mut line = [0f32; PR * NR];
    for (r, acc_r) in acc.iter().enumerate() {
        for (p, acc_p) in acc_r.iter().enumerate() {
            for (h, &v) in acc_p.iter().enumerate() {
                _mm512_storeu_ps(line.as_mut_ptr().add(p * NR + h * NB), v);
            }
        }
        sink.row(at.r0 + r, at.col0, &mut line[..at.cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_reference::assert_product;
    use super::super::pack::{pack_b_panel, PANEL_LAYOUT};
    use super::*;
    use proptest::prelude::*;

    fn values(len: usize, seed: u64) -> Vec<bf16> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                bf16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
            })
            .collect()
    }

    /// The kernel against an f64 reference of the same bf16 values (`assert_product`), B packed
    /// from a transposed `[n, k]` weight as `PackedRhs` packs it, A contiguous or strided (the
    /// copied path).
    fn check(m: usize, k: usize, n: usize, strided: bool, seed: u64) {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let (row_stride, col_stride) = if strided { (1, m + 1) } else { (k + 3, 1) };
        let lhs = MatrixRef {
            offset: 2,
            batch_stride: 0,
            row_stride,
            col_stride,
        };
        let a = values(2 + m.max(1) * (k + 3) + k * (m + 1), seed);
        let w = values(n * k, seed + 1);
        let rhs = MatrixRef {
            offset: 0,
            batch_stride: 0,
            row_stride: 1,
            col_stride: k,
        };
        let panel_len = k.div_ceil(KB) * B_BLOCK;
        let mut packed = vec![bf16::ZERO; panels(n) * panel_len];
        if panel_len > 0 {
            for (p, out) in packed.chunks_exact_mut(panel_len).enumerate() {
                pack_b_panel(&rhs, 0, &w, (k, n), p, out);
            }
        }
        assert_eq!(
            PANEL_LAYOUT
                .dims(k, n)
                .expect("dims")
                .iter()
                .product::<usize>(),
            packed.len()
        );
        let start: Vec<f32> = values(m * n, seed + 2).iter().map(|v| v.to_f32()).collect();
        for accumulate in [false, true] {
            let mut out = start.clone();
            matmul((&lhs, &a), (m, k, n), &packed, &mut out, accumulate);
            assert_product(
                "rows",
                (m, k, n),
                |i, p| a[lhs.offset + i * lhs.row_stride + p * lhs.col_stride].to_f64(),
                |p, j| w[j * k + p].to_f64(),
                &start,
                accumulate,
                &out,
            );
        }
        // The bf16 form: bit for bit the f32 products added to the bias, activated, rounded.
        let bias: Vec<f32> = start[..n].to_vec();
        for (with_bias, act) in [(false, None), (true, Some(UnaryOp::Gelu)), (true, None)] {
            let mut want = vec![0f32; m * n];
            if with_bias {
                want.chunks_exact_mut(n)
                    .for_each(|r| r.copy_from_slice(&bias));
            }
            matmul((&lhs, &a), (m, k, n), &packed, &mut want, with_bias);
            if let Some(op) = act {
                unary_chunk(op, &mut want);
            }
            let mut got = vec![bf16::from_f32(9.0); m * n];
            let epilogue = (with_bias.then_some(bias.as_slice()), act);
            matmul_bf16((&lhs, &a), (m, k, n), &packed, epilogue, &mut got);
            for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    f32_to_bf16(*w).to_bits(),
                    "bf16 output {e} of {m}x{k}x{n} (bias {with_bias}, {act:?}): {g} vs {w}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn rows_match_an_f64_reference(
            m in 1usize..20, k in 0usize..100, n in 1usize..300, strided: bool, seed in 0u64..1000,
        ) {
            check(m, k, n, strided, seed);
        }
    }

    #[test]
    fn every_tile_and_task_edge() {
        // 13 rows: two full tiles and one of 1; 9 panels: two tasks, a tile of 1 panel, and
        // a last panel 5 columns wide; k past one depth block and odd.
        check(13, 65, 8 * NR + 5, false, 3);
        check(7, 64, PANELS_PER_TASK * NR, true, 4);
        // Two row chunks and a partial one (the last of 5 rows: not a whole tile).
        check(
            2 * ROWS_PER_TASK + 5,
            33,
            PANELS_PER_TASK * NR + 1,
            false,
            5,
        );
    }
}
