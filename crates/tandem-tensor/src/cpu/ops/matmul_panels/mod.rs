//! f32 GEMM against a right-hand side packed once into column panels: the `linear` layers of
//! f32 models, whose weights `tandem_nn::Linear` packs at load ([`crate::Backend::pack_panels`]).
//!
//! `gemm` packs the right-hand side on every call. For a ViT's 577+ rows that copy is a small
//! share of the work, but a decoder step of a few dozen rows reads every weight of the model
//! once per step: there the copy, reading a row-major `[k, n]` weight from DRAM a few columns
//! at a time (one 4 KiB page per depth row at n = 3072), cost as much as the products
//! (`benches/README.md`). Packed once, each panel is one sequential stream.
//!
//! **Packed layout** ([`pack`]): a `[k, n]` matrix becomes `P = ⌈n / width⌉` panels, each the
//! `k × width` row-major block of its columns, so element `(r, c)` sits at
//! `(c / width) · k · width + r · width + c % width`; columns past `n` are zeros. As a tensor
//! that is a contiguous `[P, k, width]`.
//!
//! **Kernels**, chosen at run time from what the CPU reports ([`selected`]): AVX-512F (panels
//! of 32 columns, tiles of 12 rows) and AVX2 + FMA (16 columns, 6 rows). Elsewhere the backend
//! packs nothing and `linear` keeps `gemm`. The left operand is packed per call into blocks of
//! a tile's rows, depth-major (`k × MR`), so each broadcast is the next float; the output is
//! split over the rayon pool into rectangles of rows × panels (Goto & van de Geijn, "Anatomy of
//! high-performance matrix multiplication", 2008: a task's panels stay in L2 while its row
//! blocks pass over them).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use super::elementwise::unary_in_place;
use super::matmul::{bias_rows, check_bounds};
use super::shared_out::SharedOut;
use crate::cpu::storage::{map_vec, CpuStorage};
use crate::op::{Activation, MatrixRef};
use crate::{Layout, Result};
use rayon::prelude::*;

/// An f32 panel kernel of this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelKernel {
    /// AVX-512F: 32-column panels, 12-row tiles.
    Avx512,
    /// AVX2 + FMA: 16-column panels, 6-row tiles.
    Avx2,
}

impl PanelKernel {
    /// The kernel's name: `avx512` or `avx2` (`TANDEM_CPU_F32_PANELS=avx2` selects the latter).
    pub fn name(self) -> &'static str {
        match self {
            PanelKernel::Avx512 => "avx512",
            PanelKernel::Avx2 => "avx2",
        }
    }

    /// Columns per panel: the packed layout this kernel reads.
    pub fn width(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx512 => avx512::WIDTH,
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx2 => avx2::WIDTH,
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }

    /// Rows of its register tile: the left operand's packed block height.
    fn rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx512 => avx512::MR,
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx2 => avx2::MR,
            #[allow(unreachable_patterns)]
            _ => 1,
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx512 => avx512::available(),
            #[cfg(target_arch = "x86_64")]
            PanelKernel::Avx2 => avx2::available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// Every kernel of this module, widest first.
const KERNELS: [PanelKernel; 2] = [PanelKernel::Avx512, PanelKernel::Avx2];

/// The kernels this CPU runs, widest first.
pub fn available() -> Vec<PanelKernel> {
    KERNELS.into_iter().filter(|k| k.available()).collect()
}

/// The kernel f32 weights are packed for (its width is that of the CPU backend's `panel_layout`): the
/// widest [`available`] one, capped by the environment variable `TANDEM_CPU_F32_PANELS` (read
/// once, exact lower-case values): `avx2` skips AVX-512, `off` packs nothing, so `linear`
/// keeps its `[in, out]` copy and `gemm` (for comparisons). Any other value leaves the choice
/// alone.
pub fn selected() -> Option<PanelKernel> {
    static SELECTED: std::sync::OnceLock<Option<PanelKernel>> = std::sync::OnceLock::new();
    *SELECTED.get_or_init(|| {
        let cap = std::env::var("TANDEM_CPU_F32_PANELS").unwrap_or_default();
        let allowed = |k: &PanelKernel| match cap.as_str() {
            "off" => false,
            "avx2" => *k == PanelKernel::Avx2,
            _ => true,
        };
        available().into_iter().find(allowed)
    })
}

/// The available kernel that reads panels of `width` columns, whatever [`selected`] packs for
/// (plain panels of another width, built with `PackedRhs::with_width`, still run on it).
///
/// Runs on every packed product, so it allocates nothing (feature detection is cached).
pub fn for_width(width: usize) -> Option<PanelKernel> {
    KERNELS
        .into_iter()
        .find(|k| k.width() == width && k.available())
}

/// Elements of the packed form of a `k × n` matrix in panels of `width` columns (unchecked:
/// callers validated the sizes, `packed::packed_elems`).
pub fn packed_len(k: usize, n: usize, width: usize) -> usize {
    n.div_ceil(width) * k * width
}

/// Packs the `k × n` matrix `rhs` (batch entry 0, any strides) of `src` into `out`
/// ([`packed_len`] elements) in panels of `width` columns, zeros past column `n`. Any element
/// type: the layout is the same for every dtype ([`crate::PackedRhs`]).
///
/// # Panics
/// If `out` has another length or `rhs` addresses past `src` (callers check bounds first).
pub fn pack<T: Copy + Default + Send + Sync>(
    src: &[T],
    rhs: &MatrixRef,
    (k, n): (usize, usize),
    width: usize,
    out: &mut [T],
) {
    assert_eq!(out.len(), packed_len(k, n, width), "packed panel length");
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(k * width)
        .enumerate()
        .for_each(|(p, panel)| {
            let cols = width.min(n - p * width);
            // Column by column: for a weight as stored (`[n, k]`, the transposed view) each
            // column is a contiguous row of the source, and the panel (k · width elements,
            // 96 KiB at k = 768 in f32) stays in L2 while its columns are scattered into it.
            for c in 0..cols {
                let base = rhs.offset + (p * width + c) * rhs.col_stride;
                for (r, dst) in panel.iter_mut().skip(c).step_by(width).enumerate() {
                    *dst = src[base + r * rhs.row_stride];
                }
            }
            for r in 0..k {
                panel[r * width + cols..(r + 1) * width].fill(T::default());
            }
        });
}

/// A 2-D layout as one matrix (batch entry 0) and its `(rows, cols)`.
pub(crate) fn matrix_of(layout: &Layout) -> (MatrixRef, (usize, usize)) {
    let m = MatrixRef {
        offset: layout.offset(),
        batch_stride: 0,
        row_stride: layout.strides()[0],
        col_stride: layout.strides()[1],
    };
    (m, (layout.dims()[0], layout.dims()[1]))
}

/// The CPU backend's [`crate::Backend::pack_panels`]: the `[k, n]` matrix `layout` addresses
/// in `src`, packed into panels of `width` columns in one pass, in `src`'s dtype. The caller
/// has checked the rank, the width and the packed length (`packed::check_pack`).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] when the layout addresses past the end of `src`.
pub(crate) fn pack_storage(src: &CpuStorage, layout: &Layout, width: usize) -> Result<CpuStorage> {
    let (rhs, (k, n)) = matrix_of(layout);
    check_bounds("pack_rhs", "packed", &rhs, src.len(), 1, k, n)?;
    let len = packed_len(k, n, width);
    Ok(map_vec!(src, v => {
        let mut out = vec![Default::default(); len];
        pack(v, &rhs, (k, n), width, &mut out);
        out
    }))
}

/// The CPU backend's [`crate::Backend::matmul_panels`] on `kernel`: `act(lhs · P + bias)` for
/// an f32 `lhs` `[m, k]` (any strides) and f32 panels packed for `kernel.width()` starting at
/// element `panels_offset` of `panels`, shapes checked by the caller (`packed::check_panels`).
/// `None` when an operand is not f32 (the caller takes the generic path).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] when an operand addresses past the end of its storage.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_storage(
    kernel: PanelKernel,
    lhs: &CpuStorage,
    lhs_layout: &Layout,
    panels: &CpuStorage,
    panels_offset: usize,
    n: usize,
    bias: Option<&[f32]>,
    activation: Option<Activation>,
) -> Result<Option<CpuStorage>> {
    let (CpuStorage::F32(a), CpuStorage::F32(p)) = (lhs, panels) else {
        return Ok(None);
    };
    let (lhs_ref, (m, k)) = matrix_of(lhs_layout);
    check_bounds("matmul_packed", "left", &lhs_ref, a.len(), 1, m, k)?;
    let len = packed_len(k, n, kernel.width());
    let Some(p) = p.get(panels_offset..panels_offset + len) else {
        return Err(crate::Error::invalid(
            "matmul_packed",
            format!("{len} packed elements from {panels_offset} past the end of the storage"),
        ));
    };
    let mut out = bias_rows(m, n, bias);
    matmul(kernel, a, &lhs_ref, (m, k, n), p, &mut out, bias.is_some());
    if let Some(act) = activation {
        unary_in_place(act.as_unary(), &mut out);
    }
    Ok(Some(CpuStorage::F32(out)))
}

/// Rows one rayon task multiplies, in tiles of the kernel's rows: with [`PANELS_PER_TASK`]
/// panels of k = 768 (96 KiB each at 32 columns) and these rows (288 KiB) a task's operands
/// fit the L2 of current cores.
const ROWS_PER_TASK: usize = 96;

/// Panels one rayon task multiplies: two at 32 columns still gives a 768-wide layer 12 tasks
/// for a decoder step of one row block.
const PANELS_PER_TASK: usize = 2;

/// One register tile's operands, for the kernels.
///
/// Contract: `a` points at a packed left block (`k` depth steps of `MR` floats, the first
/// `R` of each meaningful), `panel` at `k × width` packed floats, `dst` at the tile's (0, 0)
/// in a row-major output of `ld` floats per row with `R` rows × `cols` (1 ..= width) columns
/// writable and not written by any other thread meanwhile.
pub(crate) struct Tile {
    a: *const f32,
    panel: *const f32,
    k: usize,
    dst: *mut f32,
    ld: usize,
    cols: usize,
    accumulate: bool,
}

/// `out (m × n, row-major) [+]= lhs · rhs`, with `lhs` the `m × k` matrix `a` addresses
/// through `lhs_ref` (batch entry 0, any strides) and `rhs` packed by [`pack`] for `kernel`'s
/// width. With `accumulate` the products are added to what `out` holds (a bias).
///
/// # Panics
/// If `kernel` is not available, `out` is not `m · n` long, `panels` is not the packed length,
/// or `lhs_ref` addresses past `a` (callers check bounds first).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    kernel: PanelKernel,
    a: &[f32],
    lhs_ref: &MatrixRef,
    (m, k, n): (usize, usize, usize),
    panels: &[f32],
    out: &mut [f32],
    accumulate: bool,
) {
    assert!(
        kernel.available(),
        "f32 panel kernel {kernel:?} is not available on this CPU"
    );
    let (width, mr) = (kernel.width(), kernel.rows());
    assert_eq!(out.len(), m * n, "panel matmul output length");
    assert_eq!(panels.len(), packed_len(k, n, width), "packed panel length");
    if out.is_empty() {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    // The left operand in blocks of `mr` rows, depth-major.
    let blocks = m.div_ceil(mr);
    let mut packed_a = vec![0f32; blocks * k * mr];
    let pack_block = |(b, block): (usize, &mut [f32])| {
        for i in 0..mr.min(m - b * mr) {
            let row = lhs_ref.offset + (b * mr + i) * lhs_ref.row_stride;
            for (r, dst) in block.iter_mut().skip(i).step_by(mr).enumerate() {
                *dst = a[row + r * lhs_ref.col_stride];
            }
        }
    };
    if m * k >= super::PAR_THRESHOLD {
        packed_a
            .par_chunks_mut(k * mr)
            .enumerate()
            .for_each(pack_block);
    } else {
        packed_a.chunks_mut(k * mr).enumerate().for_each(pack_block);
    }
    let rows_per_task = ROWS_PER_TASK.div_ceil(mr) * mr;
    let (chunks, groups) = (
        m.div_ceil(rows_per_task),
        n.div_ceil(width).div_ceil(PANELS_PER_TASK),
    );
    let dst = SharedOut::new(out);
    let packed_a = &packed_a;
    let task = |t: usize| {
        let (chunk, group) = (t / groups, t % groups);
        let row_end = m.min((chunk + 1) * rows_per_task);
        for p in group * PANELS_PER_TASK..n.div_ceil(width).min((group + 1) * PANELS_PER_TASK) {
            for row0 in (chunk * rows_per_task..row_end).step_by(mr) {
                let tile = Tile {
                    a: packed_a[(row0 / mr) * k * mr..].as_ptr(),
                    panel: panels[p * k * width..].as_ptr(),
                    k,
                    // SAFETY (offset): row0 < m and p · width < n, inside `out`.
                    dst: unsafe { dst.at(row0 * n + p * width) },
                    ld: n,
                    cols: width.min(n - p * width),
                    accumulate,
                };
                // SAFETY: the kernel is available (asserted above); the tile's block and
                // panel hold k depth steps; its rows × cols lie inside `out` and belong to
                // this task alone (tasks own distinct row chunks × panel groups), while `out`
                // stays borrowed by this call until every task has finished.
                unsafe { run(kernel, mr.min(m - row0), &tile) }
            }
        }
    };
    if chunks * groups > 1 && m * n * k >= super::PAR_THRESHOLD {
        (0..chunks * groups).into_par_iter().for_each(task);
    } else {
        (0..chunks * groups).for_each(task);
    }
}

/// Runs `kernel`'s tile for `rows` (1 ..= its tile rows) rows.
///
/// # Safety
/// `kernel` is available and `tile` meets [`Tile`]'s contract for `rows`.
unsafe fn run(kernel: PanelKernel, rows: usize, tile: &Tile) {
    macro_rules! by_rows {
        ($isa:ident, $($r:literal)*) => {
            match rows {
                $($r => $isa::tile::<$r>(tile),)*
                _ => unreachable!("{rows} rows in a tile of {kernel:?}"),
            }
        };
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        PanelKernel::Avx512 => by_rows!(avx512, 1 2 3 4 5 6 7 8 9 10 11 12),
        #[cfg(target_arch = "x86_64")]
        PanelKernel::Avx2 => by_rows!(avx2, 1 2 3 4 5 6),
        #[allow(unreachable_patterns)]
        _ => unreachable!("{kernel:?} is never available on this target"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_reference::assert_product;
    use super::*;
    use proptest::prelude::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// A `rows × cols` matrix at offset 3: row-major with a padded line, or column-major.
    fn layout(rows: usize, cols: usize, transposed: bool) -> (MatrixRef, usize) {
        let (row_stride, col_stride, size) = if transposed {
            (1, rows + 2, cols * (rows + 2))
        } else {
            (cols + 1, 1, rows * (cols + 1))
        };
        let m = MatrixRef {
            offset: 3,
            batch_stride: 0,
            row_stride,
            col_stride,
        };
        (m, 3 + size)
    }

    fn at(v: &[f32], m: &MatrixRef, i: usize, j: usize) -> f64 {
        v[m.offset + i * m.row_stride + j * m.col_stride] as f64
    }

    /// Every available kernel against an f64 reference. Bound: f32 accumulation of k products
    /// in any order errs by at most k·u·Σ|a·b| (u = 2⁻²⁴; Higham, "Accuracy and Stability of
    /// Numerical Algorithms", §3.1), plus the start value's share when accumulating.
    fn check((m, k, n): (usize, usize, usize), (lt, rt): (bool, bool), seed: u64) {
        let kernels = available();
        if kernels.is_empty() {
            eprintln!("skipped: this CPU has neither AVX-512F nor AVX2 + FMA");
            return;
        }
        let (lhs, lsize) = layout(m, k, lt);
        let (rhs, rsize) = layout(k, n, rt);
        let (a, w) = (values(lsize, seed), values(rsize, seed + 1));
        let start = values(m * n, seed + 2);
        for kernel in kernels {
            let mut panels = vec![f32::NAN; packed_len(k, n, kernel.width())];
            pack(&w, &rhs, (k, n), kernel.width(), &mut panels);
            for accumulate in [false, true] {
                let mut out = start.clone();
                matmul(kernel, &a, &lhs, (m, k, n), &panels, &mut out, accumulate);
                assert_product(
                    &format!("{kernel:?}"),
                    (m, k, n),
                    |i, p| at(&a, &lhs, i, p),
                    |p, j| at(&w, &rhs, p, j),
                    &start,
                    accumulate,
                    &out,
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn kernels_match_an_f64_reference(
            m in 1usize..150, k in 0usize..80, n in 1usize..100,
            lt: bool, rt: bool, seed in 0u64..1000,
        ) {
            check((m, k, n), (lt, rt), seed);
        }

        #[test]
        fn packing_places_every_element_and_zeros_the_rest(
            k in 0usize..20, n in 1usize..70, width in 1usize..40, rt: bool, seed in 0u64..100,
        ) {
            let (rhs, size) = layout(k, n, rt);
            let w = values(size, seed);
            let mut out = vec![f32::NAN; packed_len(k, n, width)];
            pack(&w, &rhs, (k, n), width, &mut out);
            for p in 0..n.div_ceil(width) {
                for r in 0..k {
                    for c in 0..width {
                        let col = p * width + c;
                        let want = if col < n { at(&w, &rhs, r, col) as f32 } else { 0.0 };
                        prop_assert_eq!(out[p * k * width + r * width + c], want);
                    }
                }
            }
        }
    }

    #[test]
    fn task_boundaries_and_every_tile_height() {
        // Two row chunks plus every remainder of a tile's rows, two panel groups plus a
        // partial panel, and depth 1.
        for kernel in available() {
            let rows = ROWS_PER_TASK.div_ceil(kernel.rows()) * kernel.rows();
            for extra in 0..kernel.rows() {
                check(
                    (
                        2 * rows + extra + 1,
                        37,
                        2 * PANELS_PER_TASK * kernel.width() + 3,
                    ),
                    (false, true),
                    extra as u64,
                );
            }
        }
        check((5, 1, 40), (true, false), 9);
    }

    #[test]
    fn the_environment_can_only_lower_the_choice() {
        let best = available().first().copied();
        match std::env::var("TANDEM_CPU_F32_PANELS").as_deref() {
            Ok("off") => assert_eq!(selected(), None),
            Ok("avx2") => assert!(selected().is_none_or(|k| k == PanelKernel::Avx2)),
            _ => assert_eq!(selected(), best),
        }
    }
}
