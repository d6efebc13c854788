//! log-softmax over the last dim, including long rows.

use super::check_float;
use crate::input::{arb_float_dtype, Dist, Input};
use crate::reference::softmax;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub x: Input,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    (arb_float_dtype(), super::reduce::arb_rows())
        .prop_flat_map(|(dtype, dims)| {
            Input::arb(dims, Dist::Uniform(-6.0, 6.0), true).prop_map(move |x| Problem { dtype, x })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = "log_softmax";
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = x.log_softmax().map_err(|e| format!("{what}: {e}"))?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let expected = softmax::log_softmax(&p.x.values(p.dtype), cols);
    // Composite implementations round every intermediate to a half type: allow a few roundings.
    check_float(
        what,
        &y,
        &p.x.dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype).scaled(3.0),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("log_softmax", backend, cases, strategy(), check);
}
