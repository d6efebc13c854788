//! `embedding`: token-id lookups in BERT's and CLIP's word-embedding tables (a gather from a
//! large table). Throughput: bytes of the gathered rows read plus written (`2·ids·d·4`).

use super::f32_bytes;
use crate::data::{random, token_ids};
use crate::shapes::{BERT_VOCAB, CLIP_VOCAB};
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

const CASES: &[(&str, usize, usize, usize)] = &[
    ("bert_words/10_of_30524x768", BERT_VOCAB, 768, 10),
    ("bert_words/30_of_30524x768", BERT_VOCAB, 768, 30),
    ("clip_tokens/77_of_49408x512", CLIP_VOCAB, 512, 77),
    ("clip_tokens/770_of_49408x512", CLIP_VOCAB, 512, 770),
];

pub fn bench_embedding<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/embedding"));
    for &(id, vocab, dim, count) in CASES {
        let name = format!("{prefix}/embedding/{id}");
        let table = must(&name, random(backend, &[vocab, dim], 0.1, 61));
        let ids = must(&name, token_ids(backend, count, vocab, 62));
        group.throughput(Throughput::Bytes(2 * f32_bytes(count * dim)));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || table.embedding(&ids))
        });
    }
    group.finish();
}
