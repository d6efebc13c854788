//! Fused scaled-dot-product attention: self / cross / causal, masks, `lq < lk` (KV-cache
//! decoding), shared k/v batch, and the strided views models pass in (heads permuted out of
//! `[b, l, h, d]`, a cache buffer narrowed to its filled length).

use super::check_float;
use crate::input::{arb_float_dtype, gen_data, Dist, Input, ViewSpec};
use crate::reference::attention::{attention, AttnShape};
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{AttentionSpec, Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub shape: AttnShape,
    pub scale: f32,
    pub causal: bool,
    pub q: Input,
    pub k: Input,
    pub v: Input,
    pub mask: Option<Input>,
}

/// Views of a `[b, h, l, d]` operand: contiguous; heads permuted out of a stored `[b, l, h, d]`;
/// a longer cache narrowed along `l`; both; or any strided view (may need a copy).
fn arb_attn_view() -> BoxedStrategy<ViewSpec> {
    let heads = vec![0, 2, 1, 3];
    let ident = vec![0, 1, 2, 3];
    prop_oneof![
        2 => Just(ViewSpec::Contiguous),
        2 => Just(ViewSpec::Strided { order: heads.clone(), pad_dim: 0, before: 0, after: 0 }),
        // Stored l is dim 2 (identity) or dim 1 (heads permuted); the cache has room left after it.
        2 => (1usize..9).prop_map(move |after| ViewSpec::Strided { order: ident.clone(), pad_dim: 2, before: 0, after }),
        2 => (1usize..9).prop_map(move |after| ViewSpec::Strided { order: heads.clone(), pad_dim: 1, before: 0, after }),
        1 => crate::input::arb_view(4),
    ]
    .boxed()
}

fn operand(dims: Vec<usize>) -> BoxedStrategy<Input> {
    let n = dims.iter().product();
    (any::<u64>(), arb_attn_view())
        .prop_map(move |(seed, view)| {
            Input::new(
                dims.clone(),
                gen_data(seed, n, Dist::Uniform(-1.5, 1.5)),
                view,
            )
        })
        .boxed()
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let sizes = (
        1usize..=2,
        any::<bool>(),
        1usize..=3,
        prop_oneof![3 => 1usize..=12, 1 => 30usize..=40],
        1usize..=40,
    );
    let dims = (
        prop_oneof![Just(1usize), 2usize..=24],
        prop_oneof![Just(None), (1usize..=24).prop_map(Some)],
    );
    (
        arb_float_dtype(),
        sizes,
        dims,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |(dtype, (b, shared_kv, h, lq, lk), (d, dv), causal, with_mask, default_scale)| {
                let lq = if causal { lq.min(lk) } else { lq };
                let s = AttnShape {
                    b,
                    bk: if shared_kv { 1 } else { b },
                    h,
                    lq,
                    lk,
                    d,
                    dv: dv.unwrap_or(d),
                };
                let scale = if default_scale {
                    Just(1.0 / (d as f32).sqrt()).boxed()
                } else {
                    (0.05f32..1.5).boxed()
                };
                let mask = if with_mask {
                    super::softmax::arb_mask(vec![s.b, s.h, s.lq, s.lk])
                        .prop_map(Some)
                        .boxed()
                } else {
                    Just(None).boxed()
                };
                (
                    operand(vec![s.b, s.h, s.lq, s.d]),
                    operand(vec![s.bk, s.h, s.lk, s.d]),
                    operand(vec![s.bk, s.h, s.lk, s.dv]),
                    mask,
                    scale,
                )
                    .prop_map(move |(q, k, v, mask, scale)| Problem {
                        dtype,
                        shape: s,
                        scale,
                        causal,
                        q,
                        k,
                        v,
                        mask,
                    })
            },
        )
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!(
        "attention (causal {}, mask {:?})",
        p.causal,
        p.mask.as_ref().map(|m| &m.dims)
    );
    let up = |i: &Input| i.to_tensor(backend, p.dtype).map_err(|e| e.to_string());
    let (q, k, v) = (up(&p.q)?, up(&p.k)?, up(&p.v)?);
    let mask = p.mask.as_ref().map(up).transpose()?;
    let spec = AttentionSpec {
        scale: p.scale,
        causal: p.causal,
    };
    let y = tandem_tensor::attention(&q, &k, &v, mask.as_ref(), spec)
        .map_err(|e| format!("{what}: {e}"))?;
    let s = p.shape;
    let mask_v = p
        .mask
        .as_ref()
        .map(|m| super::softmax::expand(&m.values(p.dtype), &m.dims, &[s.b, s.h, s.lq, s.lk]));
    let (expected, scale) = attention(
        &p.q.values(p.dtype),
        &p.k.values(p.dtype),
        &p.v.values(p.dtype),
        mask_v.as_deref(),
        s,
        p.scale as f64,
        p.causal,
    );
    let dims = [s.b, s.h, s.lq, s.dv];
    // Half-type backends may round the scores before the softmax (as PyTorch does): allow one
    // rounding of the largest score's magnitude, in units of the output scale.
    let mut tol = Tolerance::of(p.dtype).scaled(2.0);
    tol.acc += match p.dtype {
        DType::F16 => 2.0 * 4.9e-4,
        DType::BF16 => 2.0 * 3.9e-3,
        _ => 0.0,
    };
    check_float(&what, &y, &dims, p.dtype, &expected, Some(&scale), tol)
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("attention", backend, cases, strategy(), check);
}
