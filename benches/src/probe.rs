//! Micro-probes that measure what `/proc/cpuinfo` cannot tell: the clock the cores actually run
//! at (turbo, or a hypervisor's), and how many FMA instructions a core retires per cycle (the
//! number of FMA units; Xeons differ: one or two 512-bit units per core).
//!
//! - **Clock**: a chain of dependent `add reg, reg` instructions retires one per cycle on every
//!   x86 core since the Pentium Pro (1-cycle latency, no immediate for the renamer to fold), so
//!   `adds / seconds` is the clock.
//! - **FMA throughput**: 12 independent accumulator chains of `vfmadd231ps` (enough to cover
//!   4-cycle latency × 2 units) with zero operands (no denormal assists); `FMAs / seconds`
//!   divided by the clock is FMA instructions per cycle = FMA units per core.
//!
//! Both run on every core at once (one thread each) so the clock is the all-core one, with the
//! AVX-512 frequency licence applied to the FMA probe if the CPU has one. Each probe is many
//! short bursts, alternating, and keeps the best burst: on a shared machine most bursts run
//! uninterrupted even when a long run would be preempted.

use std::time::Instant;

/// What the probes saw, per core.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// Integer-pipeline clock in Hz (the slowest core).
    pub clock_hz: f64,
    /// FMA instructions retired per second per core (the slowest core).
    pub fma_per_sec: f64,
    /// f32 lanes of the FMA instruction the probe used.
    pub lanes: usize,
}

impl Probe {
    /// FMA instructions per cycle at the integer clock: the FMA unit count, before rounding.
    pub fn fma_per_cycle(&self) -> f64 {
        self.fma_per_sec / self.clock_hz
    }
}

/// Bursts per probe. Each burst is ~1–2 ms; the best burst is kept, so a burst during which
/// the OS ran another process (a shared or busy machine) does not lower the result.
const BURSTS: usize = 300;

/// Runs `clock` and `fma` bursts alternately on `threads` threads at once; returns the slowest
/// thread's best `(adds/s, FMAs/s)`.
fn best_rates(threads: usize, adds: f64, clock: fn(), fmas: f64, fma: fn()) -> (f64, f64) {
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            std::thread::spawn(move || {
                let (mut best_add, mut best_fma) = (0f64, 0f64);
                for _ in 0..BURSTS {
                    let start = Instant::now();
                    clock();
                    best_add = best_add.max(adds / start.elapsed().as_secs_f64());
                    let start = Instant::now();
                    fma();
                    best_fma = best_fma.max(fmas / start.elapsed().as_secs_f64());
                }
                (best_add, best_fma)
            })
        })
        .collect();
    handles
        .into_iter()
        .filter_map(|h| h.join().ok())
        .fold((f64::INFINITY, f64::INFINITY), |(a, f), (ta, tf)| {
            (a.min(ta), f.min(tf))
        })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    pub const ADD_ITERS: u64 = 100_000;
    pub const ADDS_PER_ITER: u64 = 20;
    pub const FMA_ITERS: u64 = 200_000;
    pub const FMAS_PER_ITER: u64 = 12;

    /// `ADD_ITERS × 20` dependent `add reg, reg`.
    pub fn add_chain() {
        let one: u64 = std::hint::black_box(1);
        let mut acc: u64 = 0;
        // SAFETY: register-only arithmetic and a counted loop; no memory or stack access.
        unsafe {
            asm!(
                "2:",
                "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}",
                "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}",
                "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}",
                "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}", "add {a}, {one}",
                "dec {n}",
                "jnz 2b",
                a = inout(reg) acc,
                one = in(reg) one,
                n = inout(reg) ADD_ITERS => _,
                options(nostack, nomem),
            );
        }
        std::hint::black_box(acc);
    }

    /// `FMA_ITERS × 12` independent 512-bit FMAs.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn fma_zmm_inner() {
        asm!(
            "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11",
            "vpxord zmm30, zmm30, zmm30", "vpxord zmm31, zmm31, zmm31",
            "2:",
            "vfmadd231ps zmm0, zmm30, zmm31", "vfmadd231ps zmm1, zmm30, zmm31", "vfmadd231ps zmm2, zmm30, zmm31",
            "vfmadd231ps zmm3, zmm30, zmm31", "vfmadd231ps zmm4, zmm30, zmm31", "vfmadd231ps zmm5, zmm30, zmm31",
            "vfmadd231ps zmm6, zmm30, zmm31", "vfmadd231ps zmm7, zmm30, zmm31", "vfmadd231ps zmm8, zmm30, zmm31",
            "vfmadd231ps zmm9, zmm30, zmm31", "vfmadd231ps zmm10, zmm30, zmm31", "vfmadd231ps zmm11, zmm30, zmm31",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) FMA_ITERS => _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _, out("zmm5") _,
            out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
            out("zmm30") _, out("zmm31") _,
            options(nostack, nomem),
        );
    }

    /// `FMA_ITERS × 12` independent 256-bit FMAs.
    ///
    /// # Safety
    /// The CPU must support AVX and FMA.
    #[target_feature(enable = "avx,fma")]
    unsafe fn fma_ymm_inner() {
        asm!(
            "vxorps ymm0, ymm0, ymm0", "vxorps ymm1, ymm1, ymm1", "vxorps ymm2, ymm2, ymm2",
            "vxorps ymm3, ymm3, ymm3", "vxorps ymm4, ymm4, ymm4", "vxorps ymm5, ymm5, ymm5",
            "vxorps ymm6, ymm6, ymm6", "vxorps ymm7, ymm7, ymm7", "vxorps ymm8, ymm8, ymm8",
            "vxorps ymm9, ymm9, ymm9", "vxorps ymm10, ymm10, ymm10", "vxorps ymm11, ymm11, ymm11",
            "vxorps ymm14, ymm14, ymm14", "vxorps ymm15, ymm15, ymm15",
            "2:",
            "vfmadd231ps ymm0, ymm14, ymm15", "vfmadd231ps ymm1, ymm14, ymm15", "vfmadd231ps ymm2, ymm14, ymm15",
            "vfmadd231ps ymm3, ymm14, ymm15", "vfmadd231ps ymm4, ymm14, ymm15", "vfmadd231ps ymm5, ymm14, ymm15",
            "vfmadd231ps ymm6, ymm14, ymm15", "vfmadd231ps ymm7, ymm14, ymm15", "vfmadd231ps ymm8, ymm14, ymm15",
            "vfmadd231ps ymm9, ymm14, ymm15", "vfmadd231ps ymm10, ymm14, ymm15", "vfmadd231ps ymm11, ymm14, ymm15",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) FMA_ITERS => _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _, out("ymm5") _,
            out("ymm6") _, out("ymm7") _, out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm14") _, out("ymm15") _,
            options(nostack, nomem),
        );
    }

    pub fn fma_zmm() {
        // SAFETY: only selected by `fma_probe` after `is_x86_feature_detected!("avx512f")`.
        unsafe { fma_zmm_inner() }
    }

    pub fn fma_ymm() {
        // SAFETY: only selected by `fma_probe` after detecting avx and fma.
        unsafe { fma_ymm_inner() }
    }

    /// The widest FMA probe this CPU runs, with its lane count.
    pub fn fma_probe() -> Option<(fn(), usize)> {
        if is_x86_feature_detected!("avx512f") {
            Some((fma_zmm as fn(), 16))
        } else if is_x86_feature_detected!("avx") && is_x86_feature_detected!("fma") {
            Some((fma_ymm as fn(), 8))
        } else {
            None
        }
    }
}

/// Measures clock and FMA throughput with `threads` threads (one per physical core). `None`
/// off x86-64 or without FMA, where the caller falls back to stated assumptions.
pub fn measure(threads: usize) -> Option<Probe> {
    #[cfg(target_arch = "x86_64")]
    {
        let (fma, lanes) = x86::fma_probe()?;
        let adds = (x86::ADD_ITERS * x86::ADDS_PER_ITER) as f64;
        let fmas = (x86::FMA_ITERS * x86::FMAS_PER_ITER) as f64;
        let (clock_hz, fma_per_sec) = best_rates(threads, adds, x86::add_chain, fmas, fma);
        Some(Probe {
            clock_hz,
            fma_per_sec,
            lanes,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            threads,
            best_rates as fn(usize, f64, fn(), f64, fn()) -> (f64, f64),
        );
        None
    }
}
