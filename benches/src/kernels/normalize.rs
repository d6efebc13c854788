//! `l2_normalize`: CLIP's projection outputs before the cosine similarity (one image, a batch
//! of captions). Throughput: bytes read + written (`2·n·4`).

use super::f32_bytes;
use crate::data::random;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

const CASES: &[(&str, usize, usize)] = &[
    ("clip_embeds/10x512", 10, 512),
    ("clip_embeds/1x512", 1, 512),
];

pub fn bench_l2_normalize<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/l2_normalize"));
    for &(id, rows, cols) in CASES {
        let name = format!("{prefix}/l2_normalize/{id}");
        let x = must(&name, random(backend, &[rows, cols], 1.0, 91));
        group.throughput(Throughput::Bytes(2 * f32_bytes(rows * cols)));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || x.l2_normalize(1e-12))
        });
    }
    group.finish();
}
