//! The AMX kernel: `TDPBF16PS` on 16 × 16 f32 accumulator tiles (Intel SDM vol. 2, "Intel AMX
//! instruction set reference"; Intel optimization manual, chapter "Intel AMX").
//!
//! Tile use: `tmm0..tmm3` accumulate a 32 × 32 block of C, `tmm4`/`tmm5` hold two 16-row slices
//! of A (16 rows × 32 depths), `tmm6`/`tmm7` the two halves of one packed B panel's depth
//! block (16 depth pairs × 16 columns each, rows 128 bytes apart).
//! Each step of 32 depths loads four tiles and issues four tile products (4 × 16·16·32 FMAs).
//! Rust has no stable AMX intrinsics, so the instructions are `asm!`; the compiler never
//! allocates tile registers, so no clobber can be violated.
//!
//! Linux makes a process ask for the tile-data state before its first tile instruction
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, kernel
//! `Documentation/arch/x86/xstate.rst`); [`available`] does so once.

use super::pack::{A_BLOCK, B_BLOCK, KB, MB, NB, NR};
use half::bf16;
use std::arch::asm;
use std::arch::x86_64::__cpuid_count;

/// `arch_prctl` request: ask for permission to use an extended state component.
const ARCH_REQ_XCOMP_PERM: libc::c_ulong = 0x1023;
/// The extended state component of the AMX tile data.
const XFEATURE_XTILEDATA: libc::c_ulong = 18;

/// Whether the CPU has AMX-TILE and AMX-BF16, the OS saves tile state (XCR0 bits 17 and 18),
/// and this process was granted the tile data. Asked once; the grant is process-wide.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // CPUID leaf 7, sub-leaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE.
        let leaf7 = __cpuid_count(7, 0);
        let cpu = leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0;
        if !cpu || !std::arch::is_x86_feature_detected!("xsave") {
            return false;
        }
        // SAFETY: XSAVE (hence XGETBV) is available, checked above.
        let xcr0 = unsafe { xgetbv0() };
        if xcr0 & (0b11 << 17) != 0b11 << 17 {
            return false;
        }
        // SAFETY: arch_prctl with these arguments only changes this process's permissions.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    })
}

/// # Safety
/// XSAVE must be available.
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    std::arch::x86_64::_xgetbv(0)
}

/// The 64-byte tile configuration (`LDTILECFG`, palette 1): tiles 0–7 all 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn full_tiles() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        for t in 0..8 {
            c[16 + 2 * t] = 64; // bytes per row (little-endian u16)
            c[48 + t] = 16; // rows
        }
        TileConfig(c)
    }
}

/// Accumulators of one 32 × 32 block of C, as `TILESTORED` writes them.
#[repr(C, align(64))]
struct Block([f32; MB * 2 * NB]);

/// `dst [+]= A · B` on packed operands: `a` holds `ceil(dst.rows / MB)` packed row blocks of
/// `kbs` depth blocks, `b` the `ceil(dst.cols / NR)` packed panels of `kbs` depth blocks.
/// Row blocks outside, panels inside: one A block serves every panel from L1.
///
/// # Safety
/// [`available`] must be true; `a` and `b` must have the lengths stated (checked by the safe
/// caller in `mod.rs`) and `dst` must address valid memory no other thread touches.
pub unsafe fn panel(a: &[bf16], b: &[bf16], kbs: usize, dst: super::OutView, accumulate: bool) {
    let a_stride = KB * 2; // bytes between rows of a packed A block
    let b_stride = 2 * NR * 2; // bytes between rows of a packed B panel
    let c_stride = 2 * NB * 4; // bytes between rows of `Block`
    let config = TileConfig::full_tiles();
    let mut block = Block([0.0; MB * 2 * NB]);
    asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
    for mb in 0..dst.rows.div_ceil(MB) {
        let a0 = a.as_ptr().add(mb * kbs * A_BLOCK);
        let a1 = a0.add(16 * KB);
        for panel in 0..dst.cols.div_ceil(NR) {
            // The panel's two halves: columns 0..16 and 16..32, interleaved row by row.
            let b0 = b.as_ptr().add(panel * kbs * B_BLOCK);
            let b1 = b0.add(2 * NB);
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for kb in 0..kbs {
                asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.add(kb * A_BLOCK),
                    a1 = in(reg) a1.add(kb * A_BLOCK),
                    b0 = in(reg) b0.add(kb * B_BLOCK),
                    b1 = in(reg) b1.add(kb * B_BLOCK),
                    sa = in(reg) a_stride,
                    sb = in(reg) b_stride,
                    options(nostack, readonly)
                );
            }
            let c = block.0.as_mut_ptr();
            asm!(
                "tilestored [{c00} + {sc}*1], tmm0",
                "tilestored [{c01} + {sc}*1], tmm1",
                "tilestored [{c10} + {sc}*1], tmm2",
                "tilestored [{c11} + {sc}*1], tmm3",
                c00 = in(reg) c,
                c01 = in(reg) c.add(NB),
                c10 = in(reg) c.add(16 * 2 * NB),
                c11 = in(reg) c.add(16 * 2 * NB + NB),
                sc = in(reg) c_stride,
                options(nostack)
            );
            super::write_block(
                &block.0,
                2 * NB,
                dst,
                (mb * MB, mb * MB + MB),
                (panel * NR, panel * NR + NR),
                accumulate,
            );
        }
    }
    asm!("tilerelease", options(nostack, nomem));
}

/// Runs `steps` × 4 independent tile products on zeroed tiles (no memory traffic): what one
/// core can issue, for `gemm_bf16::probe_flops`.
///
/// # Safety
/// [`available`] must be true.
pub unsafe fn product_loop(steps: usize) {
    let config = TileConfig::full_tiles();
    asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
    asm!(
        "tilezero tmm4",
        "tilezero tmm5",
        "tilezero tmm6",
        "tilezero tmm7",
        options(nostack, nomem)
    );
    for _ in 0..steps {
        asm!(
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            options(nostack, nomem)
        );
    }
    asm!("tilerelease", options(nostack, nomem));
}
