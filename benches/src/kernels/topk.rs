//! Decoding selections over the LM head's logits: `topk` for beam search and `argmax` for greedy
//! decoding, over BERT's vocabulary. Throughput: bytes of logits read (`n·4`), i.e. GB/s.

use super::f32_bytes;
use crate::data::random;
use crate::shapes::BERT_VOCAB;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

/// `(id, rows, k)`; `k == 0` means argmax.
const CASES: &[(&str, usize, usize)] = &[
    ("topk/beams/10x30524_k10", 10, 10),
    ("topk/beams/10x30524_k3", 10, 3),
    ("topk/step/1x30524_k5", 1, 5),
    ("argmax/greedy/10x30524", 10, 0),
    ("argmax/greedy/1x30524", 1, 0),
];

pub fn bench_topk<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/select"));
    for &(id, rows, k) in CASES {
        let name = format!("{prefix}/select/{id}");
        let logits = must(&name, random(backend, &[rows, BERT_VOCAB], 10.0, 71));
        group.throughput(Throughput::Bytes(f32_bytes(logits.elem_count())));
        group.bench_function(id, |bencher| {
            if k == 0 {
                bench_op(bencher, backend, &name, || logits.argmax_last())
            } else {
                bench_op(bencher, backend, &name, || logits.topk_last(k))
            }
        });
    }
    group.finish();
}
