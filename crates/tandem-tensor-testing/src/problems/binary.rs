//! Broadcasting binary ops: operands with dropped leading dims, size-1 dims, strided and
//! stride-0 views.

use super::check_float;
use crate::input::{arb_dims, arb_float_dtype, Dist, Input};
use crate::reference::binary;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, BinaryOp, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub op: BinaryOp,
    pub dtype: DType,
    pub a: Input,
    pub b: Input,
}

const OPS: [BinaryOp; 6] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Max,
    BinaryOp::Min,
];

/// Dims of an operand that broadcasts to `out`: some leading dims dropped, some dims set to 1.
fn operand_dims(out: Vec<usize>) -> BoxedStrategy<Vec<usize>> {
    let r = out.len();
    (
        0..=r,
        proptest::collection::vec(proptest::bool::weighted(0.3), r),
    )
        .prop_map(move |(drop, ones)| {
            out.iter()
                .zip(&ones)
                .skip(drop)
                .map(|(&d, &one)| if one { 1 } else { d })
                .collect()
        })
        .boxed()
}

pub fn strategy() -> BoxedStrategy<Problem> {
    (
        proptest::sample::select(OPS.to_vec()),
        arb_float_dtype(),
        arb_dims(1..=4, 13, 4096),
    )
        .prop_flat_map(|(op, dtype, out)| {
            (
                Just(op),
                Just(dtype),
                operand_dims(out.clone()),
                operand_dims(out),
            )
        })
        .prop_flat_map(|(op, dtype, ad, bd)| {
            let bdist = if op == BinaryOp::Div {
                Dist::Uniform(0.5, 2.0)
            } else {
                Dist::Uniform(-3.0, 3.0)
            };
            (
                Input::arb(ad, Dist::Uniform(-3.0, 3.0), true),
                Input::arb(bd, bdist, true),
            )
                .prop_map(move |(a, b)| Problem { op, dtype, a, b })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("binary {:?}", p.op);
    let a = p.a.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let b = p.b.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = a.binary(p.op, &b).map_err(|e| format!("{what}: {e}"))?;
    let (dims, expected) = binary::binary(
        p.op,
        &p.a.values(p.dtype),
        &p.a.dims,
        &p.b.values(p.dtype),
        &p.b.dims,
    )
    .ok_or_else(|| format!("{what}: generator produced incompatible shapes"))?;
    check_float(
        &what,
        &y,
        &dims,
        p.dtype,
        &expected,
        None,
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("binary", backend, cases, strategy(), check);
}
