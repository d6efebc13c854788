//! `softmax` / `log_softmax` over the last dim: ViT-B/16's attention scores (`12×577×577`, the
//! unfused attention's middle step), CLIP text's causal scores, and the BERT LM head's
//! distribution over the vocabulary (beam search takes `log_softmax`).
//! Throughput: bytes read + written (`2·n·4`), i.e. GB/s.

use super::f32_bytes;
use crate::data::random;
use crate::shapes::BERT_VOCAB;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

struct Case {
    id: &'static str,
    dims: &'static [usize],
    causal: bool,
    log: bool,
}

const CASES: &[Case] = &[
    Case {
        id: "vit_b16_384_scores/12x577x577",
        dims: &[12, 577, 577],
        causal: false,
        log: false,
    },
    Case {
        id: "vit_b32_224_scores/12x50x50",
        dims: &[12, 50, 50],
        causal: false,
        log: false,
    },
    Case {
        id: "clip_text_causal/8x77x77",
        dims: &[8, 77, 77],
        causal: true,
        log: false,
    },
    Case {
        id: "bert_vocab/10x30524",
        dims: &[10, BERT_VOCAB],
        causal: false,
        log: false,
    },
    Case {
        id: "bert_vocab_log/10x30524",
        dims: &[10, BERT_VOCAB],
        causal: false,
        log: true,
    },
];

pub fn bench_softmax<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/softmax"));
    for case in CASES {
        let name = format!("{prefix}/softmax/{}", case.id);
        let x = must(&name, random(backend, case.dims, 4.0, 21));
        group.throughput(Throughput::Bytes(2 * f32_bytes(x.elem_count())));
        group.bench_function(case.id, |bencher| {
            if case.log {
                bench_op(bencher, backend, &name, || x.log_softmax())
            } else {
                bench_op(bencher, backend, &name, || x.softmax(None, case.causal))
            }
        });
    }
    group.finish();
}
