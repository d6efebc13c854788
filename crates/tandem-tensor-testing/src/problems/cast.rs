//! Casts between every pair of dtypes, exact: float→float and int→float round to nearest,
//! float→int truncates toward zero. Values stay where every dtype is defined (no negative
//! values into `U32`, no floats beyond an integer type's range, integers below 2^24).

use super::{check_meta, Ctx};
use crate::input::{arb_dims, download, Dist, Input};
use crate::reference::cast;
use crate::{compare, run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub from: DType,
    pub to: DType,
    pub x: Input,
}

fn dist(from: DType, to: DType) -> Dist {
    let unsigned = from == DType::U32 || to == DType::U32;
    match (from.is_float(), unsigned) {
        (true, true) => Dist::Uniform(0.0, 3000.0),
        (true, false) => Dist::Uniform(-3000.0, 3000.0),
        (false, true) => Dist::Ints(0, 1 << 24),
        (false, false) => Dist::Ints(-(1 << 24), 1 << 24),
    }
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dt = || proptest::sample::select(DType::ALL.to_vec());
    (dt(), dt(), arb_dims(0..=3, 17, 2048))
        .prop_flat_map(|(from, to, dims)| {
            Input::arb(dims, dist(from, to), true).prop_map(move |x| Problem { from, to, x })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("cast {} -> {}", p.from, p.to);
    let x = p.x.to_tensor(backend, p.from).map_err(|e| e.to_string())?;
    let y = x.to_dtype(p.to).map_err(|e| format!("{what}: {e}"))?;
    check_meta(&what, &y, &p.x.dims, p.to)?;
    let expected: Vec<f64> =
        p.x.values(p.from)
            .into_iter()
            .map(|v| cast::cast(v, p.to))
            .collect();
    let got = download(&y).ctx(&what)?;
    compare(
        &what,
        &p.x.dims,
        &got,
        &expected,
        None,
        Tolerance {
            atol: 0.0,
            rtol: 0.0,
            acc: 0.0,
        },
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("cast", backend, cases, strategy(), check);
}
