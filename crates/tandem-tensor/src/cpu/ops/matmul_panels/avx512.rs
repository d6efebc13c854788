//! The AVX-512F panel kernel: a register tile of up to [`MR`] rows × 32 columns (two zmm per
//! row, 24 accumulators of the 32 registers). Each depth step loads the panel's 32 weights once
//! and broadcasts one packed A value per row into two FMAs, the outer-product form of Goto &
//! van de Geijn (2008) §5.

use super::Tile;
use std::arch::x86_64::*;

/// Columns of a panel: two 512-bit registers of f32.
pub const WIDTH: usize = 32;
/// Rows of the register tile (24 accumulators, 2 panel registers, 1 broadcast, 5 spare).
pub const MR: usize = 12;

/// Whether the CPU runs this kernel.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `tile.dst [+]= A · P` for `R` rows, as [`super::Tile`] states.
///
/// # Safety
/// [`available`] is true and `tile` meets [`super::Tile`]'s contract for `R` rows, [`MR`] and
/// [`WIDTH`].
#[target_feature(enable = "avx512f")]
pub unsafe fn tile<const R: usize>(t: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (mut a, mut p) = (t.a, t.panel);
    for _ in 0..t.k {
        let w0 = _mm512_loadu_ps(p);
        let w1 = _mm512_loadu_ps(p.add(16));
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(*a.add(i));
            acc[0] = _mm512_fmadd_ps(x, w0, acc[0]);
            acc[1] = _mm512_fmadd_ps(x, w1, acc[1]);
        }
        a = a.add(MR);
        p = p.add(WIDTH);
    }
    // Columns of the two halves that exist in the output.
    let lo = t.cols.min(16);
    let hi = t.cols.saturating_sub(16);
    let (mlo, mhi) = (mask(lo), mask(hi));
    for (i, acc) in acc.iter().enumerate() {
        let row = t.dst.add(i * t.ld);
        // The upper half may lie past the output's end when the tile has ≤ 16 columns: its
        // lanes are then all masked off (no access, AVX-512 suppresses faults of masked
        // lanes), and the address is formed with `wrapping_add`, never `add`.
        let upper = row.wrapping_add(16);
        let (mut v0, mut v1) = (acc[0], acc[1]);
        if t.accumulate {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mlo, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mhi, upper));
        }
        _mm512_mask_storeu_ps(row, mlo, v0);
        _mm512_mask_storeu_ps(upper, mhi, v1);
    }
}

/// The lane mask of the first `n` (≤ 16) lanes.
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}
