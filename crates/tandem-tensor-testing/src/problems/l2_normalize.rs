//! L2 normalisation over the last dim (`x / max(‖x‖, eps)`), including all-zero rows in f32.

use super::check_float;
use crate::input::{arb_float_dtype, Dist, Input};
use crate::reference::l2_normalize;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub eps: f32,
    pub x: Input,
    /// Row (modulo the row count) set to zeros, f32 only: an f16/bf16 `eps` of 1e-12 rounds to 0.
    pub zero_row: Option<usize>,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let eps = proptest::sample::select(vec![1e-12f32, 1e-6, 1e-2]);
    // Magnitudes over decades as well as around 1: squares of |x| < 2.4e-3 are f16 subnormals,
    // the case a reduced-precision sum of squares gets wrong.
    let dist =
        proptest::sample::select(vec![Dist::Uniform(-2.0, 2.0), Dist::LogUniform(-4.0, 1.0)]);
    (
        arb_float_dtype(),
        super::reduce::arb_rows(),
        eps,
        proptest::option::of(0usize..64),
        dist,
    )
        .prop_flat_map(|(dtype, dims, eps, zero_row, dist)| {
            let zero_row = if dtype == DType::F32 { zero_row } else { None };
            Input::arb(dims, dist, false).prop_map(move |mut x| {
                let cols = *x.dims.last().unwrap_or(&1);
                let rows = x.data.len() / cols.max(1);
                if let (Some(r), true) = (zero_row, rows > 0) {
                    let r = r % rows;
                    x.data[r * cols..(r + 1) * cols]
                        .iter_mut()
                        .for_each(|v| *v = 0.0);
                }
                Problem {
                    dtype,
                    eps,
                    x,
                    zero_row,
                }
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("l2_normalize (eps {})", p.eps);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = x.l2_normalize(p.eps).map_err(|e| format!("{what}: {e}"))?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let expected = l2_normalize::l2_normalize(&p.x.values(p.dtype), cols, p.eps as f64);
    check_float(
        &what,
        &y,
        &p.x.dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype).scaled(3.0),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("l2_normalize", backend, cases, strategy(), check);
}
