//! Concatenation along each dim of 1–4 strided inputs, in every dtype.

use super::{check_meta, Ctx};
use crate::input::{arb_dims, download, Dist, Input};
use crate::reference::cat;
use crate::{compare, run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType, Tensor};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub dim: usize,
    pub parts: Vec<Input>,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dtype = proptest::sample::select(DType::ALL.to_vec());
    (
        dtype,
        arb_dims(1..=4, 7, 1024),
        any::<proptest::sample::Index>(),
        proptest::collection::vec(1usize..6, 1..=4),
    )
        .prop_flat_map(|(dtype, dims, dim, sizes)| {
            let dim = dim.index(dims.len());
            let dist = if dtype.is_float() {
                Dist::Uniform(-2.0, 2.0)
            } else {
                Dist::Ints(0, 1000)
            };
            let parts: Vec<_> = sizes
                .iter()
                .map(|&s| {
                    let mut d = dims.clone();
                    d[dim] = s;
                    Input::arb(d, dist, true)
                })
                .collect();
            parts.prop_map(move |parts| Problem { dtype, dim, parts })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("cat(dim {})", p.dim);
    let tensors = p
        .parts
        .iter()
        .map(|i| i.to_tensor(backend, p.dtype))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let refs: Vec<&Tensor<B>> = tensors.iter().collect();
    let y = Tensor::cat(&refs, p.dim).map_err(|e| format!("{what}: {e}"))?;
    let values: Vec<Vec<f64>> = p.parts.iter().map(|i| i.values(p.dtype)).collect();
    let parts: Vec<(&[f64], &[usize])> = values
        .iter()
        .zip(&p.parts)
        .map(|(v, i)| (v.as_slice(), i.dims.as_slice()))
        .collect();
    let (dims, expected) = cat::cat(&parts, p.dim);
    check_meta(&what, &y, &dims, p.dtype)?;
    let got = download(&y).ctx(&what)?;
    compare(
        &what,
        &dims,
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
    run_problem("cat", backend, cases, strategy(), check);
}
