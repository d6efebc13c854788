//! `nn.Linear` at decode sizes (a few rows times a BLIP text-decoder weight) on the CPU backend,
//! against the path it took before the skinny AVX2 kernels, in the same process (issue 13: in
//! bf16 a decode step used to copy every weight it read).
//!
//! ```text
//! cargo run --release -p tandem-benches --bin decode_matmul [-- --reps 30]
//! ```
//!
//! Shapes `m × k → n`: the decoder's attention projections (768 → 768), MLP (768 → 3072,
//! 3072 → 768) and LM head (768 → 30524), at 1, 4, 10 (one image's 10 captions), 20, 40 (the
//! first steps of `tandem caption`'s default batch: 4 images × 10 captions) and 64 rows,
//! and at 80, above the bf16 kernel's range. Columns, median of `--reps` calls each:
//! - `gemm`: the previous f32 path, `gemm` called as the backend called it (same threading);
//! - `f32`: `Tensor::linear` with f32 weights now (the AVX2/AVX-512 kernel at 4–12 rows);
//! - `widen`: the previous bf16 path, the bf16 activation and weight widened to f32 copies
//!   (`CpuStorage::as_f32`, as the backend did), `gemm`, the result rounded to bf16;
//! - `bf16`: `Tensor::linear` with bf16 weights and activations now;
//!
//! and the ratios `f32/gemm` and `bf16/widen` (below 1: faster than before) and `bf16/f32`.
//! Prints the pool size; name the CPU and its flags (`lscpu`) beside any figure you report.

use std::time::Duration;

use gemm::Parallelism;
use tandem_tensor::cpu::CpuStorage;
use tandem_tensor::{CpuBackend, DType, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The median time of `reps` calls of `f`, after one warm-up call.
fn time(reps: usize, f: impl FnMut() -> Result<()>) -> Result<Duration> {
    tandem_benches::timing::median_time(reps, 1, f)
}

/// Below this many flops the backend ran `gemm` on one thread (its `SPLIT_FLOPS`).
const SPLIT_FLOPS: usize = 1 << 22;

/// `x [m, k] · w [n, k]ᵀ` as the CPU backend computed it before the skinny AVX2 kernels: both
/// operands widened to f32 (borrowed when already f32), then `gemm` with the backend's
/// arguments and threading, the result stored in `x`'s dtype.
fn previous_path(x: &CpuStorage, w: &CpuStorage, m: usize, k: usize, n: usize) -> CpuStorage {
    let (a, b) = (x.as_f32(), w.as_f32());
    let mut dst = vec![0f32; m * n];
    let threads = rayon::current_num_threads();
    let par = if 2 * m * n * k < SPLIT_FLOPS || threads == 1 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    };
    // SAFETY: `a` holds m·k and `b` n·k elements, row-major; dst holds m·n.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    };
    CpuStorage::from_f32(dst, x.dtype())
}

fn main() -> Result<()> {
    let reps = tandem_benches::timing::reps_from_args(30)?;
    let backend = CpuBackend;
    let mut rng = tandem_benches::data::Rng::new(13);
    println!(
        "linear x[m, k] · W[n, k]ᵀ, rayon pool of {} threads, median of {reps} (ms)",
        rayon::current_num_threads()
    );
    println!(
        "{:>3} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "m", "k", "n", "gemm", "f32", "widen", "bf16", "f32/gemm", "bf16/widen", "bf16/f32"
    );
    for (k, n) in [(768, 768), (768, 3072), (3072, 768), (768, 30524)] {
        let w32 = Tensor::from_slice(&backend, &rng.vec(n * k), &[n, k])?;
        let w16 = w32.to_dtype(DType::BF16)?;
        for m in [1, 4, 10, 20, 40, 64, 80] {
            let x32 = Tensor::from_slice(&backend, &rng.vec(m * k), &[m, k])?;
            let x16 = x32.to_dtype(DType::BF16)?;
            let linear = |x: &Tensor<CpuBackend>, w: &Tensor<CpuBackend>| {
                time(reps, || {
                    std::hint::black_box(x.linear(w, None, None)?);
                    Ok(())
                })
            };
            let f32_now = linear(&x32, &w32)?;
            let bf16_now = linear(&x16, &w16)?;
            let previous = |x: &Tensor<CpuBackend>, w: &Tensor<CpuBackend>| {
                time(reps, || {
                    std::hint::black_box(previous_path(x.storage(), w.storage(), m, k, n));
                    Ok(())
                })
            };
            let gemm_before = previous(&x32, &w32)?;
            let widen_before = previous(&x16, &w16)?;
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            println!(
                "{m:>3} {k:>5} {n:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.2} {:>10.2} {:>8.2}",
                ms(gemm_before),
                ms(f32_now),
                ms(widen_before),
                ms(bf16_now),
                ratio(f32_now, gemm_before),
                ratio(bf16_now, widen_before),
                ratio(bf16_now, f32_now)
            );
        }
    }
    Ok(())
}
