//! `linear`: a Hugging Face `nn.Linear` as the models call it, `x [m, k]` times a `[n, k]`
//! weight used through its transpose, plus bias; `linear_gelu` adds the fused GELU epilogue on
//! the MLP up-projections. Same shapes as [`matmul`](super::matmul), so the two reports show
//! what the transposed weight, bias and activation cost. Throughput: FLOP/s (`2·m·k·n`).

use crate::data::random;
use crate::shapes::MATMULS;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::{Activation, Backend};

pub fn bench_linear<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    for (op, act) in [("linear", None), ("linear_gelu", Some(Activation::Gelu))] {
        let mut group = c.benchmark_group(format!("{prefix}/{op}"));
        for s in MATMULS
            .iter()
            .filter(|s| act.is_none() || s.role.contains("MLP up"))
        {
            let name = format!("{prefix}/{op}/{}", s.id());
            let x = must(&name, random(backend, &[s.m, s.k], 1.0, 1));
            let w = must(&name, random(backend, &[s.n, s.k], 0.05, 2));
            let bias = must(&name, random(backend, &[s.n], 0.1, 3));
            group.throughput(Throughput::Elements(s.flops()));
            group.bench_function(s.id(), |bencher| {
                bench_op(bencher, backend, &name, || x.linear(&w, Some(&bias), act))
            });
        }
        group.finish();
    }
}
