//! Criterion benchmarks of the wgpu backend: every generic kernel case under the `wgpu/` prefix
//! (same shapes and ids as the CPU run, from `tandem-benches`), plus the naive kernels the
//! optimised ones are measured against: `wgpu/matmul_naive/<m×k×n>` beside `wgpu/matmul/...`,
//! and `wgpu/attention_naive/<shape>` beside `wgpu/attention/...`.
//!
//! `cargo bench -p tandem-benches --bench wgpu -- wgpu/matmul` runs one op. On lavapipe (a CPU
//! rasteriser) the GFLOP/s are only a proxy; the naive-vs-optimised ratios are what carry over.
//! `cargo run --release -p tandem-benches --bin wgpu_speedup` prints the ratios as a table.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use tandem_benches::data::random;
use tandem_benches::kernels;
use tandem_benches::shapes::{MatmulShape, ATTENTIONS};
use tandem_benches::timing::{bench_op, must};
use tandem_wgpu::WgpuBackend;

fn device() -> WgpuBackend {
    match WgpuBackend::shared() {
        Ok(b) => b,
        Err(e) => panic!("wgpu benches need a device: {e}"),
    }
}

fn wgpu_generic(c: &mut Criterion) {
    kernels::bench_all(c, &device(), "wgpu");
}

/// Shapes for the naive baseline: the naive kernel is slow enough on lavapipe that the
/// largest ViT-B/16 products are left to the tiled kernel's own cases.
const NAIVE_MATMULS: &[MatmulShape] = &[
    MatmulShape::new(50, 768, 3072, "ViT-B/32@224 MLP up"),
    MatmulShape::new(77, 512, 2048, "CLIP text MLP up"),
    MatmulShape::new(256, 768, 768, "ViT block projection"),
];

fn wgpu_naive(c: &mut Criterion) {
    let dev = device();
    let mut group = c.benchmark_group("wgpu/matmul_naive");
    for s in NAIVE_MATMULS {
        let name = format!("wgpu/matmul_naive/{}", s.id());
        let a = must(&name, random(&dev, &[s.m, s.k], 1.0, 1));
        let b = must(&name, random(&dev, &[s.k, s.n], 1.0, 2));
        group.throughput(Throughput::Elements(s.flops()));
        group.bench_function(s.id(), |bencher| {
            bench_op(bencher, &dev, &name, || dev.matmul_naive(&a, &b))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("wgpu/attention_naive");
    for s in ATTENTIONS.iter().filter(|s| s.q_len * s.kv_len <= 77 * 77) {
        let name = format!("wgpu/attention_naive/{}", s.id());
        let [q, k, v] = must(&name, kernels::attention::inputs(&dev, s));
        let spec = kernels::attention::spec(s);
        group.throughput(Throughput::Elements(s.flops()));
        group.bench_function(s.id(), |bencher| {
            bench_op(bencher, &dev, &name, || {
                dev.attention_naive(&q, &k, &v, spec)
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
}

criterion_group! { name = wgpu; config = config(); targets = wgpu_naive, wgpu_generic }
criterion_main!(wgpu);
