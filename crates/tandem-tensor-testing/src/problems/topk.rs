//! top-k over the last dim: ties broken by lower index, NaN above +inf, values and indices.

use super::{check_float, check_meta, Ctx};
use crate::input::{arb_dims, arb_float_dtype, Dist, Input};
use crate::reference::topk;
use crate::tolerance::compare_exact;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub k: usize,
    pub dtype: DType,
    pub x: Input,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dims = prop_oneof![3 => arb_dims(1..=3, 19, 2048), 1 => (1usize..3, 500usize..4000).prop_map(|(r, c)| vec![r, c])];
    let dist = prop_oneof![Just(Dist::Ints(-4, 4)), Just(Dist::Uniform(-2.0, 2.0))];
    let nans = proptest::collection::vec(any::<proptest::sample::Index>(), 0..2);
    (
        arb_float_dtype(),
        dims,
        dist,
        nans,
        any::<proptest::sample::Index>(),
    )
        .prop_flat_map(|(dtype, dims, dist, nans, k)| {
            let cols = *dims.last().unwrap_or(&1);
            // Small k (what sampling uses) most of the time, sometimes any k up to the row.
            let k = if k.index(4) == 0 {
                k.index(cols) + 1
            } else {
                k.index(cols.min(8)) + 1
            };
            Input::arb(dims, dist, false).prop_map(move |mut x| {
                let n = x.data.len();
                for i in &nans {
                    x.data[i.index(n)] = f32::NAN;
                }
                Problem { k, dtype, x }
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("topk_last(k = {})", p.k);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let (values, indices) = x.topk_last(p.k).map_err(|e| format!("{what}: {e}"))?;
    let mut dims = p.x.dims.clone();
    if let Some(last) = dims.last_mut() {
        *last = p.k;
    }
    let cols = *p.x.dims.last().unwrap_or(&1);
    let (ev, ei) = topk::topk_last(&p.x.values(p.dtype), cols, p.k);
    check_meta(&what, &indices, &dims, DType::U32)?;
    let got = indices.to_vec::<u32>().ctx(&what)?;
    compare_exact(&format!("{what} indices"), &dims, &got, &ei)?;
    let exact = Tolerance {
        atol: 0.0,
        rtol: 0.0,
        acc: 0.0,
    };
    check_float(
        &format!("{what} values"),
        &values,
        &dims,
        p.dtype,
        &ev,
        None,
        exact,
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("topk", backend, cases, strategy(), check);
}
