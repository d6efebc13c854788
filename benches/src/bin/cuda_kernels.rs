//! Kernel throughput on a GPU: GEMM TFLOP/s (bf16, f16 on tensor cores; f32) against the
//! device's dense bf16 tensor-core peak, and flash-attention GB/s for decoding and encoder
//! shapes. Run by `scripts/gpu-check.sh`; needs a GPU.
//!
//! `cargo run --release -p tandem-benches --bin cuda_kernels [-- --quick]`
//!
//! Timing: warm-up, then `iters` launches between two stream synchronisations, wall clock
//! divided by `iters` (launch overhead included, as a model sees it).

use std::time::Instant;
use tandem_cuda::CudaBackend;
use tandem_tensor::{attention, AttentionSpec, Backend, DType, Tensor};

type T = Tensor<CudaBackend>;

fn random(
    gpu: &CudaBackend,
    dims: &[usize],
    dtype: DType,
) -> Result<T, Box<dyn std::error::Error>> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (((i as u64).wrapping_mul(2654435761) % 2001) as f32 / 1000.0) - 1.0)
        .collect();
    Ok(Tensor::from_slice(gpu, &v, dims)?.to_dtype(dtype)?)
}

fn time(
    gpu: &CudaBackend,
    iters: usize,
    mut f: impl FnMut() -> tandem_tensor::Result<T>,
) -> Result<f64, Box<dyn std::error::Error>> {
    for _ in 0..3 {
        f()?;
    }
    gpu.synchronize()?;
    let t = Instant::now();
    for _ in 0..iters {
        f()?;
    }
    gpu.synchronize()?;
    Ok(t.elapsed().as_secs_f64() / iters as f64)
}

/// Dense bf16 tensor-core FLOP/s: SMs × clock × FLOPs per SM per clock (2048 on sm_80/86/89,
/// 4096 on sm_90 Hopper).
fn bf16_peak(gpu: &CudaBackend) -> Option<f64> {
    use cudarc::driver::sys::CUdevice_attribute as A;
    let sms = gpu
        .device()
        .attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .ok()? as f64;
    let khz = gpu
        .device()
        .attribute(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)
        .ok()? as f64;
    let per_clock = if gpu.device().compute_capability().0 >= 9 {
        4096.0
    } else {
        2048.0
    };
    Some(sms * khz * 1e3 * per_clock)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let gpu = CudaBackend::new(0)?;
    let peak = bf16_peak(&gpu);
    println!(
        "device: {}; dense bf16 peak {:.0} TFLOP/s",
        gpu.name(),
        peak.unwrap_or(f64::NAN) / 1e12
    );
    let iters = if quick { 5 } else { 20 };

    println!("\n# GEMM (x · wᵀ, weight transposed in place, as `linear`)");
    let shapes: &[(usize, usize, usize)] = &[
        (4096, 4096, 4096),
        (8192, 8192, 8192),
        (577 * 64, 3072, 768),
        (64, 30524, 768),
        (1, 3072, 768),
    ];
    for &(m, n, k) in shapes {
        for dtype in [DType::BF16, DType::F16, DType::F32] {
            if quick && m * n * k > 1 << 36 {
                continue;
            }
            let a = random(&gpu, &[m, k], dtype)?;
            let w = random(&gpu, &[n, k], dtype)?;
            let s = time(&gpu, iters, || a.linear(&w, None, None))?;
            let tflops = 2.0 * (m * n * k) as f64 / s / 1e12;
            let ratio = peak.map_or(String::new(), |p| {
                format!(" = {:.1}% of bf16 peak", 100.0 * tflops * 1e12 / p)
            });
            println!(
                "cuda/matmul/{dtype}/{m}x{k}x{n}: {:.3} ms, {tflops:.1} TFLOP/s{ratio}",
                s * 1e3
            );
        }
    }

    println!("\n# flash attention (bytes = q + k + v + out read/written once)");
    let cases: &[(&str, usize, usize, usize, usize, usize, bool)] = &[
        (
            "decode self-attn (BLIP text, 64 seqs, 30 cached)",
            64,
            12,
            1,
            30,
            64,
            true,
        ),
        (
            "decode cross-attn (BLIP, 64 seqs × 577 image tokens)",
            64,
            12,
            1,
            577,
            64,
            false,
        ),
        (
            "ViT-B/16 384 encoder (577 tokens)",
            64,
            12,
            577,
            577,
            64,
            false,
        ),
        (
            "CLIP ViT-B/32 encoder (50 tokens)",
            64,
            12,
            50,
            50,
            64,
            false,
        ),
    ];
    for &(name, b, h, lq, lk, d, causal) in cases {
        for dtype in [DType::BF16, DType::F32] {
            let q = random(&gpu, &[b, h, lq, d], dtype)?;
            let k = random(&gpu, &[b, h, lk, d], dtype)?;
            let v = random(&gpu, &[b, h, lk, d], dtype)?;
            let spec = AttentionSpec {
                scale: 1.0 / (d as f32).sqrt(),
                causal,
            };
            let s = time(&gpu, iters, || attention(&q, &k, &v, None, spec))?;
            let bytes = (b * h * (2 * lq * d + 2 * lk * d) * dtype.size_in_bytes()) as f64;
            let flops = 4.0 * (b * h * lq * lk * d) as f64;
            println!(
                "cuda/attention/{dtype}/{name}: {:.3} ms, {:.0} GB/s, {:.1} TFLOP/s",
                s * 1e3,
                bytes / s / 1e9,
                flops / s / 1e12
            );
        }
    }
    let stats = gpu.stats();
    let mem = gpu.memory()?;
    println!(
        "\nallocations {} (pool reuses {}), launches {}, kernels compiled {} (disk cache hits {}); live {:.1} MiB, peak {:.1} MiB, pooled {:.1} MiB",
        stats.allocations,
        stats.reuses,
        stats.launches,
        stats.compiled,
        stats.cache_hits,
        mem.live as f64 / 1048576.0,
        mem.peak_live as f64 / 1048576.0,
        mem.pooled as f64 / 1048576.0
    );
    Ok(())
}
