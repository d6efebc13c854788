//! Prints the optimised kernels' speed next to the naive baselines on the chosen adapter:
//! tiled matmul vs one-invocation-per-output matmul, and fused flash-style attention vs
//! one-invocation-per-output attention. GFLOP/s on lavapipe are a proxy; the ratios carry over.
//!
//! `cargo run --release -p tandem-benches --bin wgpu_speedup` (TANDEM_WGPU_ADAPTER picks the device).

use tandem_benches::data::random;
use tandem_benches::kernels::attention::{inputs, spec};
use tandem_benches::shapes::{AttentionShape, MatmulShape, ATTENTIONS};
use tandem_benches::timing::time_runs;
use tandem_tensor::attention;
use tandem_wgpu::WgpuBackend;

fn gflops(flops: u64, secs: f64) -> f64 {
    flops as f64 / secs / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = WgpuBackend::new()?;
    println!("adapter: {:?}", dev.adapter_info().name);
    println!(
        "{:<34} {:>12} {:>12} {:>9}",
        "matmul m×k×n", "tiled GF/s", "naive GF/s", "speed-up"
    );
    let shapes = [
        MatmulShape::new(50, 768, 3072, "ViT-B/32@224 MLP up"),
        MatmulShape::new(77, 512, 2048, "CLIP text MLP up"),
        MatmulShape::new(256, 768, 768, "ViT block projection"),
        MatmulShape::new(577, 768, 768, "ViT-B/16@384 attn out"),
    ];
    for s in shapes {
        let a = random(&dev, &[s.m, s.k], 1.0, 1)?;
        let b = random(&dev, &[s.k, s.n], 1.0, 2)?;
        let tiled = time_runs(&dev, 2, 5, || a.matmul(&b))?;
        let naive = time_runs(&dev, 1, 3, || dev.matmul_naive(&a, &b))?;
        let (t, n) = (tiled.median.as_secs_f64(), naive.median.as_secs_f64());
        println!(
            "{:<34} {:>12.2} {:>12.2} {:>8.1}×",
            format!("{} ({})", s.id(), s.role),
            gflops(s.flops(), t),
            gflops(s.flops(), n),
            n / t
        );
    }
    println!(
        "{:<34} {:>12} {:>12} {:>9}",
        "attention", "fused GF/s", "naive GF/s", "speed-up"
    );
    let extra = AttentionShape {
        batch: 1,
        heads: 12,
        q_len: 197,
        kv_len: 197,
        head_dim: 64,
        causal: false,
        cached: false,
        name: "vit_b16_224",
    };
    for s in ATTENTIONS
        .iter()
        .filter(|s| s.q_len * s.kv_len <= 77 * 77)
        .copied()
        .chain([extra])
    {
        let [q, k, v] = inputs(&dev, &s)?;
        let sp = spec(&s);
        let fused = time_runs(&dev, 2, 5, || attention(&q, &k, &v, None, sp))?;
        let naive = time_runs(&dev, 1, 3, || dev.attention_naive(&q, &k, &v, sp))?;
        let (f, n) = (fused.median.as_secs_f64(), naive.median.as_secs_f64());
        println!(
            "{:<34} {:>12.3} {:>12.3} {:>8.1}×",
            s.id(),
            gflops(s.flops(), f),
            gflops(s.flops(), n),
            n / f
        );
    }
    Ok(())
}
