//! ViT patch embedding (conv2d with stride = kernel), against a direct convolution.

use super::check_float;
use crate::input::{arb_float_dtype, Dist, Input};
use crate::reference::patch_embed;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub patch: usize,
    pub pixels: Input,
    pub weight: Input,
    pub bias: Option<Input>,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    (
        arb_float_dtype(),
        1usize..=2,
        1usize..=3,
        1usize..=5,
        1usize..=4,
        1usize..=4,
        1usize..=16,
        any::<bool>(),
    )
        .prop_flat_map(|(dtype, b, c, p, gh, gw, d, with_bias)| {
            let bias = if with_bias {
                Input::arb(vec![d], Dist::Uniform(-1.0, 1.0), false)
                    .prop_map(Some)
                    .boxed()
            } else {
                Just(None).boxed()
            };
            (
                Input::arb(vec![b, c, gh * p, gw * p], Dist::Uniform(-1.0, 1.0), false),
                Input::arb(vec![d, c, p, p], Dist::Uniform(-1.0, 1.0), false),
                bias,
            )
                .prop_map(move |(pixels, weight, bias)| Problem {
                    dtype,
                    patch: p,
                    pixels,
                    weight,
                    bias,
                })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = "patch_embed";
    let x = p
        .pixels
        .to_tensor(backend, p.dtype)
        .map_err(|e| e.to_string())?;
    let w = p
        .weight
        .to_tensor(backend, p.dtype)
        .map_err(|e| e.to_string())?;
    let bias = p
        .bias
        .as_ref()
        .map(|b| b.to_tensor(backend, p.dtype))
        .transpose()
        .map_err(|e| e.to_string())?;
    let y = x
        .patch_embed(&w, bias.as_ref())
        .map_err(|e| format!("{what}: {e}"))?;
    let pd = &p.pixels.dims;
    let dims4 = [pd[0], pd[1], pd[2], pd[3]];
    let d = p.weight.dims[0];
    let bias_v = p.bias.as_ref().map(|b| b.values(p.dtype));
    let (expected, scale) = patch_embed::patch_embed(
        &p.pixels.values(p.dtype),
        dims4,
        &p.weight.values(p.dtype),
        [d, p.patch],
        bias_v.as_deref(),
    );
    let dims = [pd[0], (pd[2] / p.patch) * (pd[3] / p.patch), d];
    check_float(
        what,
        &y,
        &dims,
        p.dtype,
        &expected,
        Some(&scale),
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("patch_embed", backend, cases, strategy(), check);
}
