//! Broadcasting binary ops as the models use them: the residual add (same shapes), a bias add
//! broadcast over rows (an unfused linear's epilogue), and an attention mask broadcast over
//! heads and queries. Throughput: bytes of both inputs as read plus the output (GB/s).

use super::f32_bytes;
use crate::data::random;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::{Backend, BinaryOp};

const CASES: &[(&str, BinaryOp, &[usize], &[usize])] = &[
    (
        "add_residual/vit_b16_384/577x768",
        BinaryOp::Add,
        &[577, 768],
        &[577, 768],
    ),
    (
        "add_bias/vit_b16_384/577x3072+3072",
        BinaryOp::Add,
        &[577, 3072],
        &[3072],
    ),
    (
        "add_mask/vit_b16_384/12x577x577+1x1x577",
        BinaryOp::Add,
        &[12, 577, 577],
        &[1, 1, 577],
    ),
    (
        "mul/bert_step/10x3072",
        BinaryOp::Mul,
        &[10, 3072],
        &[10, 3072],
    ),
];

pub fn bench_binary<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/binary"));
    for &(id, op, ld, rd) in CASES {
        let name = format!("{prefix}/binary/{id}");
        let lhs = must(&name, random(backend, ld, 1.0, 51));
        let rhs = must(&name, random(backend, rd, 1.0, 52));
        let out = lhs.elem_count().max(rhs.elem_count());
        group.throughput(Throughput::Bytes(f32_bytes(
            lhs.elem_count() + rhs.elem_count() + out,
        )));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || lhs.binary(op, &rhs))
        });
    }
    group.finish();
}
