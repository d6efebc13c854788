//! Every unary op on random shapes, dtypes and views (each op on its natural domain).

use super::check_float;
use crate::input::{arb_dims, arb_float_dtype, Dist, Input};
use crate::reference::unary;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType, UnaryOp};

#[derive(Clone, Debug)]
pub struct Problem {
    pub op: UnaryOp,
    pub dtype: DType,
    pub x: Input,
}

fn domain(op: UnaryOp) -> Dist {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt => Dist::Uniform(0.05, 4.0),
        UnaryOp::Recip => Dist::Uniform(0.1, 3.0),
        UnaryOp::Exp => Dist::Uniform(-4.0, 4.0),
        _ => Dist::Uniform(-5.0, 5.0),
    }
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dims =
        prop_oneof![4 => arb_dims(0..=4, 17, 4096), 1 => (1usize..5000).prop_map(|n| vec![n])];
    (
        proptest::sample::select(unary::all_ops()),
        arb_float_dtype(),
        dims,
    )
        .prop_flat_map(|(op, dtype, dims)| {
            Input::arb(dims, domain(op), true).prop_map(move |x| Problem { op, dtype, x })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("unary {:?}", p.op);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = x.unary(p.op).map_err(|e| format!("{what}: {e}"))?;
    let expected = unary::unary(p.op, &p.x.values(p.dtype));
    check_float(
        &what,
        &y,
        &p.x.dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("unary", backend, cases, strategy(), check);
}
