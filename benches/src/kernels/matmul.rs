//! `matmul`: `[m, k] · [k, n]`, both operands contiguous row-major, at every shape of
//! [`shapes::MATMULS`]. Throughput: FLOP/s (`2·m·k·n`; criterion prints it as elements/s).

use crate::data::random;
use crate::shapes::MATMULS;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

pub fn bench_matmul<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/matmul"));
    for s in MATMULS {
        let name = format!("{prefix}/matmul/{}", s.id());
        let a = must(&name, random(backend, &[s.m, s.k], 1.0, 1));
        let b = must(&name, random(backend, &[s.k, s.n], 1.0, 2));
        group.throughput(Throughput::Elements(s.flops()));
        group.bench_function(s.id(), |bencher| {
            bench_op(bencher, backend, &name, || a.matmul(&b))
        });
    }
    group.finish();
}
