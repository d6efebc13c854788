//! Layer norm over the last dim with learned gamma/beta and various eps, on rows with an offset
//! mean (which exposes one-pass variance formulas) and long rows.

use super::check_float;
use crate::input::{arb_dims, arb_float_dtype, Dist, Input};
use crate::reference::layer_norm;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub eps: f32,
    pub x: Input,
    pub gamma: Input,
    pub beta: Input,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dims = prop_oneof![3 => arb_dims(1..=3, 40, 4096), 1 => (1usize..4, 500usize..3000).prop_map(|(r, c)| vec![r, c])];
    let eps = proptest::sample::select(vec![1e-5f32, 1e-6, 1e-12, 1e-3, 0.1]);
    let offset = proptest::sample::select(vec![0.0f32, 4.0, -20.0]);
    (arb_float_dtype(), dims, eps, offset)
        .prop_flat_map(|(dtype, dims, eps, offset)| {
            let n = *dims.last().unwrap_or(&1);
            (
                Input::arb(dims, Dist::Uniform(offset - 2.0, offset + 2.0), true),
                Input::arb(vec![n], Dist::Uniform(0.5, 1.5), false),
                Input::arb(vec![n], Dist::Uniform(-1.0, 1.0), false),
            )
                .prop_map(move |(x, gamma, beta)| Problem {
                    dtype,
                    eps,
                    x,
                    gamma,
                    beta,
                })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("layer_norm (eps {})", p.eps);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let g = p
        .gamma
        .to_tensor(backend, p.dtype)
        .map_err(|e| e.to_string())?;
    let b = p
        .beta
        .to_tensor(backend, p.dtype)
        .map_err(|e| e.to_string())?;
    let y = x
        .layer_norm(&g, &b, p.eps)
        .map_err(|e| format!("{what}: {e}"))?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let expected = layer_norm::layer_norm(
        &p.x.values(p.dtype),
        cols,
        &p.gamma.values(p.dtype),
        &p.beta.values(p.dtype),
        p.eps as f64,
    );
    // Outputs are O(3); f32 kernels lose a little more than one rounding in mean and variance.
    check_float(
        &what,
        &y,
        &p.x.dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype).scaled(4.0),
    )
}

/// Rows whose values are all equal, with BLIP's eps of 1e-12: the centred values must be exactly
/// zero (output = beta), or an f32 mean's rounding noise divided by sqrt(eps) comes out as
/// values of order one. The CUDA kernel did that until its statistics were shifted by the row's
/// first element (found by the random suite on the simulator, seed 1796132860424846725).
pub fn constant_rows() -> Vec<Problem> {
    let rows = [4.120941f32, 2.637203, 2.0149214, 4.08193, 5.9423566, -19.3];
    let cols = 5;
    let x: Vec<f32> = rows.iter().flat_map(|&v| [v; 5]).collect();
    [DType::F32, DType::F16, DType::BF16]
        .into_iter()
        .map(|dtype| Problem {
            dtype,
            eps: 1e-12,
            x: Input::contiguous(vec![rows.len(), cols], x.clone()),
            gamma: Input::contiguous(vec![cols], vec![1.05, 0.86, 1.31, 1.13, 0.51]),
            beta: Input::contiguous(vec![cols], vec![0.40, 0.92, 0.99, 0.46, 0.71]),
        })
        .collect()
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    for p in constant_rows() {
        if let Err(e) = check(backend, &p) {
            panic!("layer_norm on constant rows ({:?}): {e}", p.dtype);
        }
    }
    run_problem("layer_norm", backend, cases, strategy(), check);
}
