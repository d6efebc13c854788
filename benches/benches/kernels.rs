//! Criterion benchmarks of every kernel on the CPU backend, named `cpu/<op>/<shape>`.
//!
//! `cargo bench -p tandem-benches --bench kernels -- cpu/matmul` runs one op; add
//! `--measurement-time 2 --warm-up-time 1` to explore quickly. Compute-bound ops report
//! "elements/s", which here means **FLOP/s**; memory-bound ones report bytes/s (see the
//! `tandem_benches` docs). A GPU backend adds a function like `cpu` below with its own prefix.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tandem_benches::kernels;
use tandem_tensor::CpuBackend;

fn cpu_matmul(c: &mut Criterion) {
    kernels::bench_matmul(c, &CpuBackend, "cpu");
    kernels::bench_linear(c, &CpuBackend, "cpu");
    kernels::bench_patch_embed(c, &CpuBackend, "cpu");
}

fn cpu_attention(c: &mut Criterion) {
    kernels::bench_attention(c, &CpuBackend, "cpu");
    kernels::bench_softmax(c, &CpuBackend, "cpu");
}

fn cpu_elementwise(c: &mut Criterion) {
    kernels::bench_layer_norm(c, &CpuBackend, "cpu");
    kernels::bench_gelu(c, &CpuBackend, "cpu");
    kernels::bench_binary(c, &CpuBackend, "cpu");
    kernels::bench_l2_normalize(c, &CpuBackend, "cpu");
}

fn cpu_lookup(c: &mut Criterion) {
    kernels::bench_embedding(c, &CpuBackend, "cpu");
    kernels::bench_topk(c, &CpuBackend, "cpu");
}

/// Shorter than criterion's defaults (3 s warm-up, 5 s, 100 samples): ~80 cases on a 2-core
/// machine would otherwise take a quarter of an hour. Command-line flags still override.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! { name = cpu; config = config(); targets = cpu_matmul, cpu_attention, cpu_elementwise, cpu_lookup }
criterion_main!(cpu);
