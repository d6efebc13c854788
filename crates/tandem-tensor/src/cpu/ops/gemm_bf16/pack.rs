//! Operand packing for the bf16 kernels: both operands are copied once per call into the
//! layouts the hardware reads, zero-padded to whole blocks so the kernels never test an edge.
//!
//! - **A** (`m × k`, any strides) becomes, per block of `MB` rows, one `MB × KB` block per
//!   depth block (2 KiB: the two 16-row A tiles of one step). A tile row, or one
//!   `vpbroadcastd` pair, is then a plain load.
//! - **B** (`k × n`, any strides) becomes "VNNI" panels of `NR` columns: rows of `NR`
//!   column pairs `(B[2q][c], B[2q+1][c])`, `KB``/2` rows per depth block, the depth padded
//!   to whole blocks: the [`PANEL_LAYOUT`] of [`crate::PackedRhs`], so a weight packed once at
//!   load is read by the same kernels. Each half of a row (16 pairs, 64 bytes) is, row by row,
//!   the second operand of `VDPBF16PS`, and 16 rows of one half at a stride of 128 bytes are
//!   the B tile of `TDPBF16PS` (Intel SDM, "Intel AMX instruction set reference", the B matrix
//!   of TDPBF16PS).

use crate::op::MatrixRef;
use crate::PanelLayout;
use half::bf16;

/// Depth (k) per block: one 64-byte tile row of bf16.
pub const KB: usize = 32;
/// Columns of one accumulator tile (16 f32 per row): half a B panel.
pub const NB: usize = 16;
/// Columns per packed B panel: two accumulator tiles.
pub const NR: usize = 2 * NB;
/// Rows per A block: two 16-row tiles.
pub const MB: usize = 32;
/// bf16 elements in one depth block of a packed B panel (`KB × NR`, 2 KiB).
pub const B_BLOCK: usize = KB * NR;
/// The layout of packed B: panels of `NR` columns, depth pairs, depth padded to `KB`.
pub const PANEL_LAYOUT: PanelLayout = PanelLayout {
    width: NR,
    depth_group: 2,
    depth_multiple: KB,
};
/// bf16 elements in one packed A block (`MB × KB`).
pub const A_BLOCK: usize = MB * KB;

/// 64 bytes of bf16, aligned to a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([bf16; 32]);

/// A bf16 buffer that starts on a cache line. The kernels' loads are whole 64-byte rows: an
/// AMX tile whose rows straddle two lines loads about 3× slower (1 KiB tiles, 4 loads per 4
/// `TDPBF16PS`: 1.0 vs 3.0 TFLOP/s on one Sapphire Rapids core, `matmul_peak --dtype bf16`'s
/// machine), so packed operands live here rather than in a `Vec<bf16>` (2-byte aligned).
pub struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

impl Aligned {
    /// An empty buffer.
    pub fn new() -> Self {
        Aligned {
            lines: Vec::new(),
            len: 0,
        }
    }

    /// `len` zeros, reusing the allocation.
    pub fn zero(&mut self, len: usize) {
        self.lines.clear();
        self.lines.resize(len.div_ceil(32), Line([bf16::ZERO; 32]));
        self.len = len;
    }

    pub fn as_slice(&self) -> &[bf16] {
        // SAFETY: `Line` is `repr(C)` of 32 bf16 without padding, so the lines are
        // `32 · lines.len() ≥ len` contiguous, initialised bf16.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [bf16] {
        // SAFETY: as in `as_slice`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

/// Panels B is packed into for `n` columns.
pub fn panels(n: usize) -> usize {
    n.div_ceil(NR)
}

/// Packs rows `row0..row0 + rows` (at most `MB`) of batch entry `b` of the `k`-deep left
/// operand `m` into the zeroed `out` (`kbs · A_BLOCK` elements): for each depth block, the
/// `MB` rows of `KB` depths, so the two A tiles of a step are 2 contiguous KiB (a stream
/// the prefetchers follow). Zeros stay past `k` and `rows`.
///
/// # Panics
/// When an addressed element is outside `a` (the caller checks the operand's bounds first).
pub fn pack_a(
    m: &MatrixRef,
    b: usize,
    a: &[bf16],
    (row0, rows): (usize, usize),
    k: usize,
    out: &mut [bf16],
) {
    let base = m.offset + b * m.batch_stride;
    for i in 0..rows {
        let start = base + (row0 + i) * m.row_stride;
        for kb in 0..k.div_ceil(KB) {
            let depths = KB.min(k - kb * KB);
            let dst = &mut out[kb * A_BLOCK + i * KB..][..depths];
            let first = start + kb * KB * m.col_stride;
            if m.col_stride == 1 {
                dst.copy_from_slice(&a[first..first + depths]);
            } else {
                for (p, d) in dst.iter_mut().enumerate() {
                    *d = a[first + p * m.col_stride];
                }
            }
        }
    }
}

/// Packs panel `panel` (columns `panel·NR ..`) of batch entry `b` of the `k × n` right
/// operand `m` into `out` (`kbs · B_BLOCK` elements, `kbs = ceil(k / KB)`), zeros past `k` and
/// `n`. Element (depth p, column c) lands at `(p / 2)·2·NR + 2·c + p % 2`.
///
/// # Panics
/// When an addressed element is outside `w`, or `out` has another length.
pub fn pack_b_panel(
    m: &MatrixRef,
    b: usize,
    w: &[bf16],
    (k, n): (usize, usize),
    panel: usize,
    out: &mut [bf16],
) {
    let kbs = k.div_ceil(KB);
    assert_eq!(out.len(), kbs * B_BLOCK, "packed B panel length");
    out.fill(bf16::ZERO);
    let base = m.offset + b * m.batch_stride;
    let cols = n.saturating_sub(panel * NR).min(NR);
    let rows = out.chunks_exact_mut(2 * NR).take(k.div_ceil(2));
    if m.col_stride == 1 && cols > 0 {
        // Row-major B (an activation): each packed row interleaves two consecutive rows of B,
        // `cols` contiguous columns each.
        let first = base + panel * NR;
        for (q, row) in rows.enumerate() {
            let even = &w[first + 2 * q * m.row_stride..][..cols];
            for (c, &v) in even.iter().enumerate() {
                row[2 * c] = v;
            }
            if 2 * q + 1 < k {
                let odd = &w[first + (2 * q + 1) * m.row_stride..][..cols];
                for (c, &v) in odd.iter().enumerate() {
                    row[2 * c + 1] = v;
                }
            }
        }
        return;
    }
    if m.row_stride == 1 {
        // Depth contiguous in every column (an `nn.Linear` weight as stored): write each
        // packed row in one pass, reading two elements from each column.
        let mut starts = [0usize; NR];
        for (c, s) in starts.iter_mut().enumerate().take(cols) {
            *s = base + (panel * NR + c) * m.col_stride;
        }
        for (q, row) in rows.enumerate() {
            let p = 2 * q;
            for (c, &start) in starts[..cols].iter().enumerate() {
                row[2 * c] = w[start + p];
                if p + 1 < k {
                    row[2 * c + 1] = w[start + p + 1];
                }
            }
        }
        return;
    }
    for c in 0..cols {
        let col = base + (panel * NR + c) * m.col_stride;
        for p in 0..k {
            out[(p / 2) * 2 * NR + 2 * c + p % 2] = w[col + p * m.row_stride];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mref(row_stride: usize, col_stride: usize) -> MatrixRef {
        MatrixRef {
            offset: 1,
            batch_stride: 0,
            row_stride,
            col_stride,
        }
    }

    #[test]
    fn b_panels_hold_column_pairs_in_vnni_order() {
        // B is 3 × 34 (k × n) with B[p][c] = 4·c + p (integers up to 256 are exact in bf16),
        // stored three ways after one leading element: as the transpose of a row-major [n, k]
        // weight, row-major with one padding column, and every other element of a transposed
        // [n, 2k] (neither stride 1: the generic path).
        let (k, n) = (3, 34);
        let value = |p: usize, c: usize| bf16::from_f32((4 * c + p) as f32);
        let store = |m: &MatrixRef, len: usize| {
            let mut w = vec![bf16::from_f32(-1.0); len];
            for p in 0..k {
                for c in 0..n {
                    w[m.offset + p * m.row_stride + c * m.col_stride] = value(p, c);
                }
            }
            w
        };
        let forms = [
            (mref(1, k), 1 + n * k),
            (mref(n + 1, 1), 1 + k * (n + 1)),
            (mref(2, 2 * k), 1 + 2 * n * k),
        ];
        let mut want = vec![bf16::ZERO; 2 * B_BLOCK];
        for p in 0..k {
            for c in 0..n {
                want[(c / NR) * B_BLOCK + PANEL_LAYOUT.index(k, p, c % NR)] = value(p, c);
            }
        }
        for (m, len) in forms {
            let w = store(&m, len);
            let mut got = vec![bf16::from_f32(7.0); 2 * B_BLOCK];
            for (panel, out) in got.chunks_exact_mut(B_BLOCK).enumerate() {
                pack_b_panel(&m, 0, &w, (k, n), panel, out);
            }
            assert_eq!(got, want, "{m:?}");
        }
        // Panel 1 holds columns 32 and 33; row 0 pairs depths 0 and 1, row 1 holds depth 2.
        let at = |r: usize, c: usize, p: usize| want[B_BLOCK + r * 2 * NR + 2 * c + p].to_f32();
        assert_eq!(
            (at(0, 0, 0), at(0, 0, 1), at(1, 0, 0), at(1, 0, 1)),
            (128.0, 129.0, 130.0, 0.0)
        );
        assert_eq!((at(0, 1, 0), at(1, 1, 0), at(0, 2, 0)), (132.0, 134.0, 0.0));
        assert_eq!((panels(32), panels(33)), (1, 2));
    }

    #[test]
    fn a_rows_are_packed_by_depth_block() {
        // A is 2 × 40 column-major after one leading element: A[i][p] = a[1 + p·2 + i] = 2p + i
        // (kept below 256, exact in bf16, by taking the values modulo 256).
        let a: Vec<bf16> = (0..81)
            .map(|v| bf16::from_f32(((v + 255) % 256) as f32))
            .collect();
        let mut buf = Aligned::new();
        buf.zero(2 * A_BLOCK);
        pack_a(&mref(1, 2), 0, &a, (1, 1), 40, buf.as_mut_slice());
        let out = buf.as_slice();
        assert_eq!(out.as_ptr() as usize % 64, 0);
        let got = |i: usize| out[i].to_f32();
        // Row 1 is block row 0: depths 0..32 in block 0, 32..40 at the start of block 1.
        assert_eq!((got(0), got(1), got(31)), (1.0, 3.0, 63.0));
        assert_eq!(
            (got(A_BLOCK), got(A_BLOCK + 7), got(A_BLOCK + 8)),
            (65.0, 79.0, 0.0)
        );
        assert!(out[KB..A_BLOCK].iter().all(|v| *v == bf16::ZERO));
    }
}
