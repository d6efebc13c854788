//! The fused matmul epilogue `act(x·w + bias)` through `matmul_fused` and `linear` (weight
//! `[out, in]` used through a transposed view), with every activation.

use super::check_float;
use crate::input::{arb_float_dtype, arb_size, Dist, Input};
use crate::reference::{layout, matmul};
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Activation, Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    /// `linear(x, w[n, k])` when true, `matmul_fused(x, w[k, n])` otherwise.
    pub linear: bool,
    pub x: Input,
    pub w: Input,
    pub bias: Option<Input>,
    pub act: Option<Activation>,
}

const ACTS: [Activation; 6] = [
    Activation::Gelu,
    Activation::GeluTanh,
    Activation::QuickGelu,
    Activation::Relu,
    Activation::Silu,
    Activation::Tanh,
];

pub fn strategy() -> BoxedStrategy<Problem> {
    let lead = proptest::collection::vec(arb_size(9), 1..=3);
    let act = proptest::option::weighted(0.8, proptest::sample::select(ACTS.to_vec()));
    (
        arb_float_dtype(),
        any::<bool>(),
        lead,
        arb_size(48),
        arb_size(48),
        act,
        any::<bool>(),
    )
        .prop_flat_map(|(dtype, linear, lead, k, n, act, with_bias)| {
            let mut xd = lead.clone();
            xd.push(k);
            let wd = if linear { vec![n, k] } else { vec![k, n] };
            let x = if linear {
                Input::arb(xd, Dist::Uniform(-1.0, 1.0), true)
            } else {
                // matmul_fused needs rank ≥ 2 on both sides: use [lead…, k] as is.
                Input::arb(xd, Dist::Uniform(-1.0, 1.0), false)
            };
            let w = super::matmul::matrix_input(vec![], wd[0], wd[1]);
            let bias = if with_bias {
                Input::arb(vec![n], Dist::Uniform(-1.0, 1.0), false)
                    .prop_map(Some)
                    .boxed()
            } else {
                Just(None).boxed()
            };
            (x, w, bias).prop_map(move |(x, w, bias)| Problem {
                dtype,
                linear,
                x,
                w,
                bias,
                act,
            })
        })
        .prop_filter("matmul_fused needs a matrix", |p| {
            p.linear || p.x.dims.len() >= 2
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!(
        "{} (act {:?}, bias {})",
        if p.linear { "linear" } else { "matmul_fused" },
        p.act,
        p.bias.is_some()
    );
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let w = p.w.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let bias = p
        .bias
        .as_ref()
        .map(|b| b.to_tensor(backend, p.dtype))
        .transpose()
        .map_err(|e| e.to_string())?;
    let y = if p.linear {
        x.linear(&w, bias.as_ref(), p.act)
    } else {
        x.matmul_fused(&w, bias.as_ref(), p.act)
    }
    .map_err(|e| format!("{what}: {e}"))?;
    let (wd, wv) = if p.linear {
        layout::permute(&p.w.values(p.dtype), &p.w.dims, &[1, 0])
    } else {
        (p.w.dims.clone(), p.w.values(p.dtype))
    };
    let bias_v = p.bias.as_ref().map(|b| b.values(p.dtype));
    let r = matmul::matmul(
        &p.x.values(p.dtype),
        &p.x.dims,
        &wv,
        &wd,
        bias_v.as_deref(),
        p.act,
    )
    .ok_or_else(|| format!("{what}: generator produced incompatible shapes"))?;
    let mut dims = p.x.dims.clone();
    if let Some(last) = dims.last_mut() {
        *last = wd[1];
    }
    check_float(
        &what,
        &y,
        &dims,
        p.dtype,
        &r.values,
        Some(&r.scale),
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("matmul_fused", backend, cases, strategy(), check);
}
