//! The residual add fused with the layer norm after it: both outputs, on rows with an offset
//! mean and long rows, operands as strided or broadcast views of equal dims.

use super::check_float;
use crate::input::{arb_dims, arb_float_dtype, round_all, Dist, Input};
use crate::reference::layer_norm;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub eps: f32,
    pub x: Input,
    pub residual: Input,
    pub gamma: Input,
    pub beta: Input,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dims = prop_oneof![3 => arb_dims(1..=3, 40, 4096), 1 => (1usize..4, 500usize..3000).prop_map(|(r, c)| vec![r, c])];
    let eps = proptest::sample::select(vec![1e-5f32, 1e-6, 1e-12, 0.1]);
    let offset = proptest::sample::select(vec![0.0f32, 4.0, -20.0]);
    (arb_float_dtype(), dims, eps, offset)
        .prop_flat_map(|(dtype, dims, eps, offset)| {
            let n = *dims.last().unwrap_or(&1);
            (
                Input::arb(
                    dims.clone(),
                    Dist::Uniform(offset - 2.0, offset + 2.0),
                    true,
                ),
                Input::arb(dims, Dist::Uniform(-1.0, 1.0), true),
                Input::arb(vec![n], Dist::Uniform(0.5, 1.5), false),
                Input::arb(vec![n], Dist::Uniform(-1.0, 1.0), false),
            )
                .prop_map(move |(x, residual, gamma, beta)| Problem {
                    dtype,
                    eps,
                    x,
                    residual,
                    gamma,
                    beta,
                })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("add_layer_norm (eps {})", p.eps);
    let up = |i: &Input| i.to_tensor(backend, p.dtype).map_err(|e| e.to_string());
    let (x, r, g, b) = (up(&p.x)?, up(&p.residual)?, up(&p.gamma)?, up(&p.beta)?);
    let (sum, normed) = x
        .add_layer_norm(&r, &g, &b, p.eps)
        .map_err(|e| format!("{what}: {e}"))?;
    // The contract: the sum as the dtype stores it (one rounding of the exact sum), and the
    // layer norm of that stored sum.
    let exact: Vec<f64> =
        p.x.values(p.dtype)
            .iter()
            .zip(p.residual.values(p.dtype))
            .map(|(a, b)| a + b)
            .collect();
    let stored = round_all(&exact, p.dtype);
    check_float(
        &format!("{what} sum"),
        &sum,
        &p.x.dims,
        p.dtype,
        &stored,
        None,
        Tolerance::of(p.dtype),
    )?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let expected = layer_norm::layer_norm(
        &stored,
        cols,
        &p.gamma.values(p.dtype),
        &p.beta.values(p.dtype),
        p.eps as f64,
    );
    // As `layer_norm`'s problem: outputs are O(3), f32 kernels lose a little more than one
    // rounding in mean and variance.
    check_float(
        &format!("{what} normed"),
        &normed,
        &p.x.dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype).scaled(4.0),
    )
}

/// Rows whose sums are all equal, with eps 1e-12: the fused kernels must normalise them to
/// exactly beta, as `super::layer_norm::constant_rows` checks for the unfused op.
pub fn constant_rows() -> Vec<Problem> {
    super::layer_norm::constant_rows()
        .into_iter()
        .map(|p| {
            let zeros = vec![0.0; p.x.data.len()];
            Problem {
                dtype: p.dtype,
                eps: p.eps,
                residual: Input::contiguous(p.x.dims.clone(), zeros),
                x: p.x,
                gamma: p.gamma,
                beta: p.beta,
            }
        })
        .collect()
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    for p in constant_rows() {
        if let Err(e) = check(backend, &p) {
            panic!("add_layer_norm on constant rows ({:?}): {e}", p.dtype);
        }
    }
    run_problem("add_layer_norm", backend, cases, strategy(), check);
}
