//! bf16 × bf16 GEMM with f32 accumulation on the CPU's matrix engines, chosen at run time:
//!
//! - [`Bf16Gemm::Amx`]: AMX tiles (`TDPBF16PS`), Intel Sapphire Rapids and later;
//! - [`Bf16Gemm::Avx512Bf16`]: `VDPBF16PS`, AMD Zen 4 and later, Intel Cooper Lake and later;
//! - neither: the caller widens both operands to f32 and runs `gemm` (see `matmul.rs`).
//!
//! Every product of two bf16 values is exact in f32, so the result equals an f32 matmul of the
//! same bf16 values up to summation order, with one documented difference of the hardware:
//! both instructions treat bf16 subnormal inputs (|x| < 1.2e-38) as zero and flush subnormal
//! results (Intel SDM, TDPBF16PS and VDPBF16PS: "DAZ, FTZ, RNE, SAE" regardless of MXCSR).
//!
//! A is packed per call and B too ([`matmul`]) unless it was packed once at load in
//! [`PANEL_LAYOUT`] ([`matmul_prepacked`]: `nn.Linear` weights, as `crate::PackedRhs`); see
//! `pack.rs`. The output is split over the rayon pool into rectangles of `ROWS_PER_TASK`
//! rows × `GROUP_PANELS` panels, blocked for the caches as in Goto & van de Geijn, "Anatomy
//! of high-performance matrix multiplication" (2008): a group's packed B in L2, one row block
//! of A in L1.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod pack;
#[cfg(target_arch = "x86_64")]
pub mod rows;

use super::elementwise::unary_in_place;
use super::matmul::{bias_rows, check_bounds};
use super::shared_out::SharedOut;
use crate::cpu::storage::CpuStorage;
use crate::op::{Activation, MatmulSpec, MatrixRef};
use crate::{Layout, Result};
use half::bf16;
pub use pack::{pack_b_panel, PANEL_LAYOUT};
use pack::{panels, Aligned, A_BLOCK, B_BLOCK, KB, MB, NR};
use rayon::prelude::*;

/// Rows one rayon task multiplies (a multiple of `pack::MB`).
const ROWS_PER_TASK: usize = 8 * MB;

/// Panels (of `pack::NR` = 32 columns) one rayon task multiplies: their packed B
/// (`GROUP_PANELS · 32 · k` bf16, 192 KiB at k = 768) stays in L2 while every row block of the
/// task passes over it, and one packed A row block (32 × k, 48 KiB at k = 768) is reused by
/// every panel.
const GROUP_PANELS: usize = 4;

/// Fewest rows worth packing for: below half an A block most of every tile product is
/// padding, and packing B (O(n·k) per call) outweighs the O(m·n·k) work it serves.
pub const MIN_ROWS: usize = MB / 2;

/// A bf16 GEMM kernel of this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Gemm {
    /// Intel AMX tiles, `TDPBF16PS`.
    Amx,
    /// AVX-512 `VDPBF16PS`.
    Avx512Bf16,
}

impl Bf16Gemm {
    /// The name `TANDEM_CPU_BF16_GEMM` takes: `amx` or `avx512bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Gemm::Amx => "amx",
            Bf16Gemm::Avx512Bf16 => "avx512bf16",
        }
    }

    /// Whether this CPU (and, for AMX, the OS) runs the kernel.
    pub fn available(self) -> bool {
        match self {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Bf16Gemm::Amx => amx::available(),
            #[cfg(target_arch = "x86_64")]
            Bf16Gemm::Avx512Bf16 => avx512::available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// The kernels this CPU runs, fastest first.
pub fn available() -> Vec<Bf16Gemm> {
    [Bf16Gemm::Amx, Bf16Gemm::Avx512Bf16]
        .into_iter()
        .filter(|k| k.available())
        .collect()
}

/// The kernel bf16 matmuls use: the fastest [`available`] one, capped by the environment
/// variable `TANDEM_CPU_BF16_GEMM` (read once): `avx512bf16` skips AMX, `f32` (or `off`)
/// widens to f32 and runs `gemm` as on CPUs without either (for comparisons; any other value
/// leaves the choice alone).
pub fn selected() -> Option<Bf16Gemm> {
    static SELECTED: std::sync::OnceLock<Option<Bf16Gemm>> = std::sync::OnceLock::new();
    *SELECTED.get_or_init(|| {
        let cap = std::env::var("TANDEM_CPU_BF16_GEMM").unwrap_or_default();
        let allowed = |k: &Bf16Gemm| match cap.as_str() {
            "f32" | "off" => false,
            "avx512bf16" => *k != Bf16Gemm::Amx,
            _ => true,
        };
        available().into_iter().find(allowed)
    })
}

/// Which kernel runs `m` rows against packed weights: [`rows`] wherever the GEMM kernel is
/// AVX512-BF16 (on Zen 4 the rows kernel was as fast or faster at 1 to 577 rows in four runs
/// of `packed_linear --dtype bf16`); with AMX, up to [`super::matmul_skinny::BF16_MAX_ROWS`]
/// rows, the bound below which `linear` ran on the skinny dot kernel before its weights were
/// packed (not yet measured against AMX tiles on packed weights), AMX tiles above.
fn rows_kernel_for(kernel: Bf16Gemm, m: usize) -> bool {
    kernel == Bf16Gemm::Avx512Bf16 || m <= super::matmul_skinny::BF16_MAX_ROWS
}

/// Whether this CPU runs [`rows`] (x86-64 only).
fn rows_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return rows::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether bf16 `linear` weights are packed once at load ([`PANEL_LAYOUT`], the CPU backend's
/// `panel_layout` for bf16): a GEMM kernel is [`selected`] and the few-rows kernel runs here,
/// unless the environment variable `TANDEM_CPU_BF16_PANELS` is `off` (read once; for
/// comparisons: weights then stay as stored, read by the skinny kernel and packed by the GEMM
/// on every call, as before).
pub fn packs_weights() -> bool {
    static PACKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PACKS.get_or_init(|| {
        let off = std::env::var("TANDEM_CPU_BF16_PANELS").is_ok_and(|v| v == "off");
        !off && rows_available() && selected().is_some()
    })
}

/// The CPU backend's `pack_panels` for bf16 in [`PANEL_LAYOUT`]: the `[k, n]` matrix `layout`
/// addresses in `src`, packed in one pass per panel, and the element at which the panels start
/// in the returned storage: the first 64-byte boundary, so that every panel row is whole cache
/// lines (AMX tile loads of rows that straddle lines ran about 3× slower; see `pack.rs`).
/// `None` when `src` is not bf16. The caller checked the rank and the packed length.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] when the layout addresses past the end of `src`.
pub(crate) fn pack_storage(
    src: &CpuStorage,
    layout: &Layout,
) -> Result<Option<(CpuStorage, usize)>> {
    let CpuStorage::BF16(w) = src else {
        return Ok(None);
    };
    let (rhs, (k, n)) = super::matmul_panels::matrix_of(layout);
    check_bounds("pack_rhs", "packed", &rhs, w.len(), 1, k, n)?;
    let panel_len = k.div_ceil(KB) * B_BLOCK;
    let len = panels(n) * panel_len;
    // 31 spare elements: some start within them is 64-byte aligned (bf16 is 2-byte aligned).
    let mut v = vec![bf16::ZERO; len + 31];
    let start = v.as_ptr().align_offset(64).min(31);
    if panel_len > 0 {
        v[start..start + len]
            .par_chunks_mut(panel_len)
            .enumerate()
            .for_each(|(p, out)| pack_b_panel(&rhs, 0, w, (k, n), p, out));
    }
    Ok(Some((CpuStorage::BF16(v), start)))
}

/// The CPU backend's `matmul_panels` for bf16 panels in [`PANEL_LAYOUT`]: `act(lhs · B + bias)`
/// for a bf16 `lhs` `[m, k]` (any strides), B's `⌈n / 32⌉` panels starting at element
/// `panels_offset` of `panels`, in bf16, shapes checked by the caller. `None` when an operand
/// is not bf16 or this CPU lacks the kernels (the caller takes the generic path).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] when an operand addresses past the end of its storage.
pub(crate) fn matmul_storage(
    (lhs, lhs_layout): (&CpuStorage, &Layout),
    (panels_s, panels_offset): (&CpuStorage, usize),
    n: usize,
    bias: Option<&[f32]>,
    activation: Option<Activation>,
) -> Result<Option<CpuStorage>> {
    let (CpuStorage::BF16(a), CpuStorage::BF16(p)) = (lhs, panels_s) else {
        return Ok(None);
    };
    let Some(kernel) = selected() else {
        return Ok(None);
    };
    let (lhs_ref, (m, k)) = super::matmul_panels::matrix_of(lhs_layout);
    check_bounds("matmul_packed", "left", &lhs_ref, a.len(), 1, m, k)?;
    let len = panels(n) * k.div_ceil(KB) * B_BLOCK;
    let Some(p) = p.get(panels_offset..panels_offset + len) else {
        return Err(crate::Error::invalid(
            "matmul_packed",
            format!("{len} packed elements from {panels_offset} past the end of the storage"),
        ));
    };
    if rows_available() && rows_kernel_for(kernel, m) {
        // Bias, activation and the rounding to bf16 in the kernel's stores: no f32 result.
        #[cfg(target_arch = "x86_64")]
        {
            let mut out = vec![bf16::ZERO; m * n];
            let epilogue = (bias, activation.map(|a| a.as_unary()));
            rows::matmul_bf16((&lhs_ref, a), (m, k, n), p, epilogue, &mut out);
            return Ok(Some(CpuStorage::BF16(out)));
        }
    }
    let mut out = bias_rows(m, n, bias);
    if m * n > 0 && k > 0 {
        matmul_prepacked(
            kernel,
            (&lhs_ref, a),
            (m, k, n),
            p,
            &mut out,
            bias.is_some(),
        );
    }
    if let Some(act) = activation {
        unary_in_place(act.as_unary(), &mut out);
    }
    Ok(Some(CpuStorage::from_f32(out, lhs.dtype())))
}

/// The rate, in flop/s, at which the calling thread's core issues `kernel`'s product
/// instruction with operands already in registers and no loads: the roof a GEMM on that kernel
/// could reach (run it on every core at once for the machine's). Best of many short bursts
/// over about `budget`, so a burst interrupted by the OS does not lower it. `None` when the
/// kernel is not available.
pub fn probe_flops(kernel: Bf16Gemm, budget: std::time::Duration) -> Option<f64> {
    if !kernel.available() {
        return None;
    }
    // Flops of one step: 4 tile products of 16·16·32 FMAs, or 16 instructions of 16·2 FMAs.
    let (steps, flops_per_step) = match kernel {
        Bf16Gemm::Amx => (2_000, 4.0 * 16.0 * 16.0 * 32.0 * 2.0),
        Bf16Gemm::Avx512Bf16 => (20_000, 16.0 * 16.0 * 2.0 * 2.0),
    };
    let start = std::time::Instant::now();
    let mut best = 0f64;
    while start.elapsed() < budget {
        let burst = std::time::Instant::now();
        // SAFETY: `kernel` is available (checked above).
        unsafe { product_loop(kernel, steps) };
        best = best.max(steps as f64 * flops_per_step / burst.elapsed().as_secs_f64());
    }
    Some(best)
}

/// # Safety
/// `kernel` is available.
unsafe fn product_loop(kernel: Bf16Gemm, steps: usize) {
    match kernel {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Bf16Gemm::Amx => amx::product_loop(steps),
        #[cfg(target_arch = "x86_64")]
        Bf16Gemm::Avx512Bf16 => avx512::product_loop(steps),
        #[allow(unreachable_patterns)]
        _ => unreachable!("{kernel:?} is never available on this target"),
    }
}

/// `out (batch × m × n, row-major) [+]= lhs · rhs` per `spec`, both operands bf16, accumulated
/// in f32 by `kernel`; B packed here, once for all entries when it is broadcast (a weight).
///
/// # Panics
/// When `kernel` is not available on this CPU, `out` is not `batch · m · n` long, or an operand
/// addresses past its slice (`matmul.rs` checks the bounds first and returns an error).
pub fn matmul(
    kernel: Bf16Gemm,
    spec: &MatmulSpec,
    a: &[bf16],
    w: &[bf16],
    out: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (spec.k, spec.n);
    let panel_len = k.div_ceil(KB) * B_BLOCK;
    let per_entry = panels(n) * panel_len;
    let entries = if spec.rhs.batch_stride == 0 {
        1
    } else {
        spec.batch
    };
    let mut packed_b = Aligned::new();
    packed_b.zero(entries * per_entry);
    if panel_len > 0 {
        packed_b
            .as_mut_slice()
            .par_chunks_mut(panel_len)
            .enumerate()
            .for_each(|(i, block)| {
                pack_b_panel(&spec.rhs, i / panels(n), w, (k, n), i % panels(n), block)
            });
    }
    let entry_stride = if entries == 1 { 0 } else { per_entry };
    run(
        kernel,
        (spec.batch, &spec.lhs, a),
        (spec.m, k, n),
        (packed_b.as_slice(), entry_stride),
        out,
        accumulate,
    );
}

/// `out (m × n, row-major) [+]= lhs · B` with B packed once in [`PANEL_LAYOUT`] (`panels_b`:
/// `⌈n / 32⌉` panels of `⌈k / 32⌉ · 1024` bf16, a `crate::PackedRhs`'s storage), `lhs` the
/// `m × k` bf16 matrix `lhs_ref` addresses in `a` (batch entry 0, any strides).
///
/// # Panics
/// As [`matmul`], or when `panels_b` has another length.
pub fn matmul_prepacked(
    kernel: Bf16Gemm,
    (lhs_ref, a): (&MatrixRef, &[bf16]),
    (m, k, n): (usize, usize, usize),
    panels_b: &[bf16],
    out: &mut [f32],
    accumulate: bool,
) {
    assert_eq!(
        panels_b.len(),
        panels(n) * k.div_ceil(KB) * B_BLOCK,
        "packed B length"
    );
    run(
        kernel,
        (1, lhs_ref, a),
        (m, k, n),
        (panels_b, 0),
        out,
        accumulate,
    );
}

/// The product on packed B: `lhs` `(batch, ref, elements)`, `b` `(panels, elements between
/// batch entries' panels, 0 when shared)`. A is packed here, one row block per rayon task.
fn run(
    kernel: Bf16Gemm,
    (batch, lhs, a): (usize, &MatrixRef, &[bf16]),
    (m, k, n): (usize, usize, usize),
    (packed_b, entry_stride): (&[bf16], usize),
    out: &mut [f32],
    accumulate: bool,
) {
    assert!(
        kernel.available(),
        "bf16 GEMM kernel {kernel:?} is not available on this CPU"
    );
    assert_eq!(out.len(), batch * m * n, "bf16 GEMM output length");
    if out.is_empty() {
        return;
    }
    let kbs = k.div_ceil(KB);
    let panel_len = kbs * B_BLOCK;
    let a_len = kbs * A_BLOCK;
    let a_blocks = m.div_ceil(MB);
    let mut packed_a = Aligned::new();
    packed_a.zero(batch * a_blocks * a_len);
    if a_len > 0 {
        packed_a
            .as_mut_slice()
            .par_chunks_mut(a_len)
            .enumerate()
            .for_each(|(i, block)| {
                let (b, row0) = (i / a_blocks, (i % a_blocks) * MB);
                pack::pack_a(lhs, b, a, (row0, MB.min(m - row0)), k, block)
            });
    }
    // Tasks: (batch entry, row chunk, column group), each writing its own rectangle of `out`.
    let (row_chunks, groups) = (m.div_ceil(ROWS_PER_TASK), panels(n).div_ceil(GROUP_PANELS));
    let dst = SharedOut::new(out);
    (0..batch * row_chunks * groups)
        .into_par_iter()
        .for_each(|t| {
            let (b, rc, g) = (
                t / (row_chunks * groups),
                (t / groups) % row_chunks,
                t % groups,
            );
            let row0 = rc * ROWS_PER_TASK;
            let rows = ROWS_PER_TASK.min(m - row0);
            let col0 = g * GROUP_PANELS * NR;
            let cols = (GROUP_PANELS * NR).min(n - col0);
            let a_rows = &packed_a.as_slice()[(b * a_blocks + row0 / MB) * a_len..]
                [..rows.div_ceil(MB) * a_len];
            let b_cols =
                &packed_b[b * entry_stride + (col0 / NR) * panel_len..][..panels(cols) * panel_len];
            let view = OutView {
                ptr: dst,
                offset: b * m * n + row0 * n + col0,
                ld: n,
                rows,
                cols,
            };
            // SAFETY: the kernel is available (asserted above); `a_rows` holds
            // ceil(rows / MB) packed row blocks of kbs depth blocks, `b_cols` panels(cols)
            // panels of kbs blocks; `view` addresses rows × cols inside `out`, and no two
            // tasks' views overlap (distinct batch entry, row chunk or column group), while
            // `out` stays mutably borrowed by this call until every task has finished.
            unsafe { panel(kernel, a_rows, b_cols, kbs, view, accumulate) }
        });
}

/// A `rows × cols` rectangle of the row-major output (`ld` floats per row) at `offset`.
#[derive(Clone, Copy)]
struct OutView {
    ptr: SharedOut,
    offset: usize,
    ld: usize,
    rows: usize,
    cols: usize,
}

/// One task's rectangle on `kernel`, as `amx::panel` documents.
///
/// # Safety
/// `kernel` is available; the slices and the view are as `amx::panel` states.
unsafe fn panel(
    kernel: Bf16Gemm,
    a: &[bf16],
    b: &[bf16],
    kbs: usize,
    dst: OutView,
    accumulate: bool,
) {
    match kernel {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Bf16Gemm::Amx => amx::panel(a, b, kbs, dst, accumulate),
        #[cfg(target_arch = "x86_64")]
        Bf16Gemm::Avx512Bf16 => avx512::panel(a, b, kbs, dst, accumulate),
        #[allow(unreachable_patterns)]
        _ => unreachable!("{kernel:?} is never available on this target"),
    }
}

/// Adds (or, without `accumulate`, stores) rows `rows.0..rows.1` and columns `cols.0..cols.1`
/// of the view `dst` (clipped to its size) from `block`, a row-major accumulator block of `ld`
/// columns whose (0, 0) is (`rows.0`, `cols.0`).
///
/// # Safety
/// `dst` addresses valid, unaliased memory (as `matmul` guarantees for its tasks).
unsafe fn write_block(
    block: &[f32],
    ld: usize,
    dst: OutView,
    rows: (usize, usize),
    cols: (usize, usize),
    accumulate: bool,
) {
    let (r1, c1) = (rows.1.min(dst.rows), cols.1.min(dst.cols));
    let width = c1.saturating_sub(cols.0);
    for (i, r) in (rows.0..r1).enumerate() {
        let src = &block[i * ld..][..width];
        let out =
            std::slice::from_raw_parts_mut(dst.ptr.at(dst.offset + r * dst.ld + cols.0), width);
        if accumulate {
            out.iter_mut().zip(src).for_each(|(o, s)| *o += s);
        } else {
            out.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_reference::assert_product;
    use super::*;
    use crate::op::MatrixRef;
    use proptest::prelude::*;

    /// A layout for `rows × cols` matrices of a batch: row-major or transposed, with `pad`
    /// extra elements per line and an offset, broadcast over the batch or not.
    fn layout(
        rows: usize,
        cols: usize,
        transposed: bool,
        pad: usize,
        broadcast: bool,
    ) -> (MatrixRef, usize) {
        let (row_stride, col_stride, lines, line) = if transposed {
            (1, rows + pad, cols, rows + pad)
        } else {
            (cols + pad, 1, rows, cols + pad)
        };
        let size = lines * line;
        let m = MatrixRef {
            offset: 3,
            batch_stride: if broadcast { 0 } else { size },
            row_stride,
            col_stride,
        };
        (m, size)
    }

    fn values(len: usize, seed: u64) -> Vec<bf16> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                bf16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
            })
            .collect()
    }

    fn at(v: &[bf16], m: &MatrixRef, b: usize, i: usize, j: usize) -> f64 {
        v[m.offset + b * m.batch_stride + i * m.row_stride + j * m.col_stride].to_f64()
    }

    /// Every available kernel against an f64 reference of the same bf16 values. Bound: f32
    /// accumulation of k products in any order errs by at most k·u·Σ|a·b| (u = 2⁻²⁴; Higham,
    /// "Accuracy and Stability of Numerical Algorithms", §3.1), plus the start value's share.
    fn check(
        batch: usize,
        (m, n, k): (usize, usize, usize),
        (lt, rt, bcast): (bool, bool, bool),
        seed: u64,
    ) {
        let kernels = available();
        if kernels.is_empty() {
            eprintln!("skipped: this CPU has neither AMX-BF16 nor AVX512-BF16");
            return;
        }
        let (lhs, lsize) = layout(m, k, lt, 1, false);
        let (rhs, rsize) = layout(k, n, rt, 2, bcast);
        let a = values(3 + batch * lsize, seed);
        let w = values(3 + if bcast { rsize } else { batch * rsize }, seed + 1);
        let spec = MatmulSpec {
            batch,
            m,
            n,
            k,
            lhs,
            rhs,
        };
        let start: Vec<f32> = values(batch * m * n, seed + 2)
            .iter()
            .map(|v| v.to_f32())
            .collect();
        for kernel in kernels {
            for accumulate in [false, true] {
                let mut out = start.clone();
                matmul(kernel, &spec, &a, &w, &mut out, accumulate);
                for b in 0..batch {
                    let (per, entry) = (m * n, b * m * n);
                    assert_product(
                        &format!("{kernel:?} entry {b} of {batch}"),
                        (m, k, n),
                        |i, p| at(&a, &lhs, b, i, p),
                        |p, j| at(&w, &rhs, b, p, j),
                        &start[entry..entry + per],
                        accumulate,
                        &out[entry..entry + per],
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn kernels_match_an_f64_reference(
            batch in 1usize..3, m in 1usize..150, n in 1usize..70, k in 1usize..100,
            lt: bool, rt: bool, bcast: bool, seed in 0u64..1000,
        ) {
            check(batch, (m, n, k), (lt, rt, bcast), seed);
        }
    }

    #[test]
    fn a_linear_layer_shape_with_every_edge() {
        // 2 row chunks plus a partial block, 2 column groups plus a partial panel, k past a
        // block: every task boundary, with a broadcast weight and with one per batch entry.
        let n = 2 * GROUP_PANELS * NR + 5;
        check(1, (2 * ROWS_PER_TASK + 17, n, 70), (false, true, true), 7);
        check(2, (ROWS_PER_TASK + 3, n, 33), (true, false, false), 8);
    }

    #[test]
    fn the_environment_can_only_lower_the_choice() {
        let best = available().first().copied();
        match std::env::var("TANDEM_CPU_BF16_GEMM").as_deref() {
            Ok("f32") | Ok("off") => assert_eq!(selected(), None),
            Ok("avx512bf16") => assert!(selected().is_none_or(|k| k == Bf16Gemm::Avx512Bf16)),
            _ => assert_eq!(selected(), best),
        }
    }
}
