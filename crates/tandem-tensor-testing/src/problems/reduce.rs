//! Sum / max / min over the last dim, including rows of several thousand elements.

use super::check_float;
use crate::input::{arb_dims, arb_float_dtype, round_all, Dist, Input};
use crate::reference::reduce;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType, ReduceOp};

#[derive(Clone, Debug)]
pub struct Problem {
    pub op: ReduceOp,
    pub keepdim: bool,
    pub dtype: DType,
    pub x: Input,
}

/// Mostly small shapes, sometimes a few rows of up to 6000 (long accumulations, multi-block
/// GPU reductions).
pub fn arb_rows() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        3 => arb_dims(1..=4, 17, 4096),
        1 => (1usize..4, 1000usize..6000).prop_map(|(r, c)| vec![r, c]),
    ]
    .boxed()
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let ops = vec![ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min];
    (
        proptest::sample::select(ops),
        any::<bool>(),
        arb_float_dtype(),
        arb_rows(),
    )
        .prop_flat_map(|(op, keepdim, dtype, dims)| {
            Input::arb(dims, Dist::Uniform(-2.0, 2.0), true).prop_map(move |x| Problem {
                op,
                keepdim,
                dtype,
                x,
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("reduce {:?} (keepdim {})", p.op, p.keepdim);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = match (p.op, p.keepdim) {
        (ReduceOp::Sum, false) => x.sum_last(),
        (ReduceOp::Sum, true) => x.sum_keepdim(),
        (ReduceOp::Max, false) => x.max_last(),
        (ReduceOp::Max, true) => x.max_keepdim(),
        (_, false) => x.min_last(),
        (_, true) => x.min_keepdim_via_neg(),
    }
    .map_err(|e| format!("{what}: {e}"))?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let values = p.x.values(p.dtype);
    let mut dims = p.x.dims[..p.x.dims.len() - 1].to_vec();
    if p.keepdim {
        dims.push(1);
    }
    let expected = reduce::reduce_last(p.op, &values, cols);
    if p.op == ReduceOp::Sum {
        let scale = reduce::abs_sum_last(&values, cols);
        check_float(
            &what,
            &y,
            &dims,
            p.dtype,
            &expected,
            Some(&scale),
            Tolerance::of(p.dtype),
        )
    } else {
        // The extreme of a row is one of its (already rounded) entries: exact.
        let exact = Tolerance {
            atol: 0.0,
            rtol: 0.0,
            acc: 0.0,
        };
        check_float(
            &what,
            &y,
            &dims,
            p.dtype,
            &round_all(&expected, p.dtype),
            None,
            exact,
        )
    }
}

/// `min` with keepdim has no method of its own; `-max(-x)` keeps the shape and is exact.
trait MinKeepdim: Sized {
    fn min_keepdim_via_neg(&self) -> tandem_tensor::Result<Self>;
}

impl<B: Backend> MinKeepdim for tandem_tensor::Tensor<B> {
    fn min_keepdim_via_neg(&self) -> tandem_tensor::Result<Self> {
        self.unary(tandem_tensor::UnaryOp::Neg)?
            .max_keepdim()?
            .unary(tandem_tensor::UnaryOp::Neg)
    }
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("reduce", backend, cases, strategy(), check);
}
