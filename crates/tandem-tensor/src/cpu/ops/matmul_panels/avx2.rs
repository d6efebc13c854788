//! The AVX2 + FMA panel kernel (any x86-64 since Haswell / Zen 1): a register tile of up to
//! [`MR`] rows × 16 columns (two ymm per row: 12 accumulators, 2 panel registers and one
//! broadcast of the 16 registers), the Haswell form of the outer-product kernel in Goto & van
//! de Geijn (2008) §5.

use super::Tile;
use std::arch::x86_64::*;

/// Columns of a panel: two 256-bit registers of f32.
pub const WIDTH: usize = 16;
/// Rows of the register tile.
pub const MR: usize = 6;

/// Whether the CPU runs this kernel.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `tile.dst [+]= A · P` for `R` rows, as [`super::Tile`] states.
///
/// # Safety
/// [`available`] is true and `tile` meets [`super::Tile`]'s contract for `R` rows, [`MR`] and
/// [`WIDTH`].
#[target_feature(enable = "avx2,fma")]
pub unsafe fn tile<const R: usize>(t: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let (mut a, mut p) = (t.a, t.panel);
    for _ in 0..t.k {
        let w0 = _mm256_loadu_ps(p);
        let w1 = _mm256_loadu_ps(p.add(8));
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_broadcast_ss(&*a.add(i));
            acc[0] = _mm256_fmadd_ps(x, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(x, w1, acc[1]);
        }
        a = a.add(MR);
        p = p.add(WIDTH);
    }
    let mut row_out = [0f32; WIDTH];
    for (i, acc) in acc.iter().enumerate() {
        let row = t.dst.add(i * t.ld);
        if t.cols == WIDTH {
            let (mut v0, mut v1) = (acc[0], acc[1]);
            if t.accumulate {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row.add(8)));
            }
            _mm256_storeu_ps(row, v0);
            _mm256_storeu_ps(row.add(8), v1);
        } else {
            // The panel's last columns are padding: write only those the output has.
            _mm256_storeu_ps(row_out.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(row_out.as_mut_ptr().add(8), acc[1]);
            for (j, v) in row_out[..t.cols].iter().enumerate() {
                let o = row.add(j);
                *o = if t.accumulate { *o + v } else { *v };
            }
        }
    }
}
