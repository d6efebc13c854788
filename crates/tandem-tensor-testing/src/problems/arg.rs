//! argmax / argmin over the last dim: ties (first index wins) and NaN (never wins).

use super::{check_meta, Ctx};
use crate::input::{arb_float_dtype, Dist, Input};
use crate::reference::reduce;
use crate::run_problem;
use crate::tolerance::compare_exact;
use proptest::prelude::*;
use tandem_tensor::{Backend, DType, ReduceOp};

#[derive(Clone, Debug)]
pub struct Problem {
    pub op: ReduceOp,
    pub dtype: DType,
    pub x: Input,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dist = prop_oneof![Just(Dist::Ints(-3, 3)), Just(Dist::Uniform(-2.0, 2.0))];
    let nans = proptest::collection::vec(any::<proptest::sample::Index>(), 0..3);
    (
        proptest::sample::select(vec![ReduceOp::ArgMax, ReduceOp::ArgMin]),
        arb_float_dtype(),
        super::reduce::arb_rows(),
        dist,
        nans,
    )
        .prop_flat_map(|(op, dtype, dims, dist, nans)| {
            Input::arb(dims, dist, false).prop_map(move |mut x| {
                let n = x.data.len();
                for i in &nans {
                    x.data[i.index(n)] = f32::NAN;
                }
                Problem { op, dtype, x }
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("{:?}", p.op);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = if p.op == ReduceOp::ArgMax {
        x.argmax_last()
    } else {
        x.argmin_last()
    }
    .map_err(|e| format!("{what}: {e}"))?;
    let dims = p.x.dims[..p.x.dims.len() - 1].to_vec();
    check_meta(&what, &y, &dims, DType::U32)?;
    let got = y.to_vec::<u32>().ctx(&what)?;
    let cols = *p.x.dims.last().unwrap_or(&1);
    let expected: Vec<u32> = reduce::reduce_last(p.op, &p.x.values(p.dtype), cols)
        .into_iter()
        .map(|i| i as u32)
        .collect();
    compare_exact(&what, &dims, &got, &expected)
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("argmax_argmin", backend, cases, strategy(), check);
}
