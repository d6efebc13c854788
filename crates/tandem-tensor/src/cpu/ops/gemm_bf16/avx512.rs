//! The AVX512-BF16 kernel: `VDPBF16PS` (Intel SDM vol. 2; AMD Zen 4 and later, Intel Cooper
//! Lake and Sapphire Rapids and later). One instruction adds, to each of 16 f32 lanes, the dot
//! product of a bf16 pair of A (broadcast) with that column's pair of B, so the packed B rows are
//! the second operand as stored.
//!
//! Register tile: [`MR`] rows × one 32-column panel, 16 zmm accumulators; each depth pair
//! loads the panel's row (two B vectors) and broadcasts [`MR`] A pairs for 16 instructions.

use super::pack::{A_BLOCK, B_BLOCK, KB, MB, NB, NR};
use half::bf16;
use std::arch::x86_64::*;

/// Rows of the register tile (divides [`MB`]).
const MR: usize = 8;

/// Whether the CPU runs this kernel.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// `dst [+]= A · B` on packed operands, as [`super::amx::panel`].
///
/// # Safety
/// [`available`] must be true; as [`super::amx::panel`].
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn panel(a: &[bf16], b: &[bf16], kbs: usize, dst: super::OutView, accumulate: bool) {
    let mut block = [0f32; MR * 2 * NB];
    for r0 in (0..dst.rows).step_by(MR) {
        // Row r0 + i, depth pair q (block q / 16, pair q % 16 in it) as one u32.
        let a0 = a.as_ptr().add((r0 / MB) * kbs * A_BLOCK + (r0 % MB) * KB) as *const u32;
        for panel in 0..dst.cols.div_ceil(NR) {
            // Row q of the panel: 16 column pairs for the first tile, then 16 for the second.
            let b0 = b.as_ptr().add(panel * kbs * B_BLOCK);
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            for q in 0..kbs * KB / 2 {
                let row = b0.add(2 * q * NR);
                let w0: __m512bh = std::mem::transmute(_mm512_loadu_si512(row.cast()));
                let w1: __m512bh = std::mem::transmute(_mm512_loadu_si512(row.add(2 * NB).cast()));
                let aq = a0.add((q / (KB / 2)) * A_BLOCK / 2 + q % (KB / 2));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(
                        aq.add(i * KB / 2).read_unaligned() as i32,
                    ));
                    acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
                    acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(block.as_mut_ptr().add(i * 2 * NB), acc[0]);
                _mm512_storeu_ps(block.as_mut_ptr().add(i * 2 * NB + NB), acc[1]);
            }
            super::write_block(
                &block,
                2 * NB,
                dst,
                (r0, r0 + MR),
                (panel * NR, panel * NR + NR),
                accumulate,
            );
        }
    }
}

/// Runs `steps` × 16 independent `VDPBF16PS` on zero registers (no memory traffic): what one
/// core can issue, for `gemm_bf16::probe_flops`. 16 chains cover the latency on every core
/// that has the instruction.
///
/// # Safety
/// [`available`] must be true.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn product_loop(steps: usize) {
    let zero: __m512bh = std::mem::transmute(_mm512_setzero_si512());
    let mut acc = [_mm512_setzero_ps(); 16];
    for _ in 0..steps {
        for a in acc.iter_mut() {
            *a = _mm512_dpbf16_ps(*a, zero, zero);
        }
    }
    std::hint::black_box(acc);
}
