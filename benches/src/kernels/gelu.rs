//! Activations as standalone kernels (what runs when the matmul epilogue is not fused): exact
//! GELU on the ViT / BERT MLP hidden, `quick_gelu` on CLIP's, `gelu_tanh` for comparison.
//! Throughput: bytes read + written (`2·n·4`), i.e. GB/s.

use super::f32_bytes;
use crate::data::random;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::{Backend, UnaryOp};

const CASES: &[(&str, UnaryOp, usize, usize)] = &[
    ("gelu/vit_b16_384/577x3072", UnaryOp::Gelu, 577, 3072),
    (
        "gelu_tanh/vit_b16_384/577x3072",
        UnaryOp::GeluTanh,
        577,
        3072,
    ),
    ("gelu/bert_step/10x3072", UnaryOp::Gelu, 10, 3072),
    ("quick_gelu/clip_text/77x2048", UnaryOp::QuickGelu, 77, 2048),
    (
        "quick_gelu/vit_b32_224/50x3072",
        UnaryOp::QuickGelu,
        50,
        3072,
    ),
];

pub fn bench_gelu<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/activation"));
    for &(id, op, rows, cols) in CASES {
        let name = format!("{prefix}/activation/{id}");
        let x = must(&name, random(backend, &[rows, cols], 4.0, 41));
        group.throughput(Throughput::Bytes(2 * f32_bytes(rows * cols)));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || x.unary(op))
        });
    }
    group.finish();
}
