//! `attention`: the backend's (possibly fused) scaled-dot-product attention, and
//! `attention_unfused`: the same computation as three separate kernels (`q·kᵀ` with the scale,
//! softmax, `p·v`), i.e. what a backend without a fused kernel runs. Comparing the two under
//! the same id shows what fusion buys.
//!
//! `cached` shapes read keys/values as a view narrowed out of a larger KV-cache buffer, the way
//! a decoder step does. Throughput: FLOP/s of the two products (`4·b·h·lq·lk·d`).

use crate::data::random;
use crate::shapes::{AttentionShape, ATTENTIONS, KV_CACHE_CAPACITY};
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::{attention, AttentionSpec, Backend, Result, Tensor};

/// q, k, v for `s`; k and v are narrowed views of a `KV_CACHE_CAPACITY` buffer when cached.
pub fn inputs<B: Backend>(backend: &B, s: &AttentionShape) -> Result<[Tensor<B>; 3]> {
    let (b, h, d) = (s.batch, s.heads, s.head_dim);
    let q = random(backend, &[b, h, s.q_len, d], 1.0, 11)?;
    let kv = |seed| -> Result<Tensor<B>> {
        if s.cached {
            let cap = KV_CACHE_CAPACITY.max(s.kv_len);
            random(backend, &[b, h, cap, d], 1.0, seed)?.narrow(2, 0, s.kv_len)
        } else {
            random(backend, &[b, h, s.kv_len, d], 1.0, seed)
        }
    };
    Ok([q, kv(12)?, kv(13)?])
}

pub fn spec(s: &AttentionShape) -> AttentionSpec {
    AttentionSpec {
        scale: 1.0 / (s.head_dim as f32).sqrt(),
        causal: s.causal,
    }
}

/// Attention as separate matmul, softmax and matmul kernels (the trait's default composition).
pub fn unfused<B: Backend>(
    q: &Tensor<B>,
    k: &Tensor<B>,
    v: &Tensor<B>,
    spec: AttentionSpec,
) -> Result<Tensor<B>> {
    let scores = q.matmul(&k.transpose(2, 3)?)?.scale(spec.scale)?;
    scores.softmax(None, spec.causal)?.matmul(v)
}

pub fn bench_attention<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    for op in ["attention", "attention_unfused"] {
        let mut group = c.benchmark_group(format!("{prefix}/{op}"));
        for s in ATTENTIONS {
            let name = format!("{prefix}/{op}/{}", s.id());
            let [q, k, v] = must(&name, inputs(backend, s));
            let sp = spec(s);
            group.throughput(Throughput::Elements(s.flops()));
            group.bench_function(s.id(), |bencher| {
                if op == "attention" {
                    bench_op(bencher, backend, &name, || attention(&q, &k, &v, None, sp))
                } else {
                    bench_op(bencher, backend, &name, || unfused(&q, &k, &v, sp))
                }
            });
        }
        group.finish();
    }
}
