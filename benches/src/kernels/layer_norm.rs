//! `layer_norm` over the hidden dim at every model's token count (eps 1e-12 as BERT, the
//! value does not change speed). Throughput: bytes read + written (`2·n·4`), i.e. GB/s.

use super::f32_bytes;
use crate::data::random;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

const CASES: &[(&str, usize, usize)] = &[
    ("vit_b16_384/577x768", 577, 768),
    ("vit_b32_224/50x768", 50, 768),
    ("clip_text/77x512", 77, 512),
    ("bert_step/10x768", 10, 768),
    ("bert_step/1x768", 1, 768),
];

pub fn bench_layer_norm<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/layer_norm"));
    for &(id, rows, cols) in CASES {
        let name = format!("{prefix}/layer_norm/{id}");
        let x = must(&name, random(backend, &[rows, cols], 3.0, 31));
        let gamma = must(&name, random(backend, &[cols], 1.0, 32));
        let beta = must(&name, random(backend, &[cols], 1.0, 33));
        group.throughput(Throughput::Bytes(2 * f32_bytes(rows * cols)));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || {
                x.layer_norm(&gamma, &beta, 1e-12)
            })
        });
    }
    group.finish();
}
