//! One problem generator and checker per op.
//!
//! Each module exports `strategy()` (a `proptest` strategy of its `Problem` struct, which
//! prints fully on failure), `check(backend, problem)` (run on the backend, compare with the
//! reference) and `run(backend, cases)` (what the `conformance_suite!` test calls).

pub mod add_layer_norm;
pub mod arg;
pub mod attention;
pub mod binary;
pub mod cast;
pub mod cat;
pub mod errors;
pub mod fused;
pub mod index_select;
pub mod l2_normalize;
pub mod layer_norm;
pub mod log_softmax;
pub mod matmul;
pub mod patch_embed;
pub mod reduce;
pub mod slice_set;
pub mod softmax;
pub mod topk;
pub mod unary;
pub mod views;

use std::fmt::Display;
use tandem_tensor::{Backend, DType, Tensor};

/// Adds the op name to a backend error.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: backend returned an error: {e}"))
    }
}

/// Checks dims and dtype of a result before comparing values.
pub(crate) fn check_meta<B: Backend>(
    what: &str,
    t: &Tensor<B>,
    dims: &[usize],
    dtype: DType,
) -> Result<(), String> {
    if t.dims() != dims || t.dtype() != dtype {
        return Err(format!(
            "{what}: result is {:?} {}, expected {dims:?} {dtype}",
            t.dims(),
            t.dtype()
        ));
    }
    Ok(())
}

/// Downloads a float result and compares it with the reference.
pub(crate) fn check_float<B: Backend>(
    what: &str,
    t: &Tensor<B>,
    dims: &[usize],
    dtype: DType,
    expected: &[f64],
    scale: Option<&[f64]>,
    tol: crate::Tolerance,
) -> Result<(), String> {
    check_meta(what, t, dims, dtype)?;
    let got = crate::input::download(t).ctx(what)?;
    crate::compare(what, dims, &got, expected, scale, tol)
}
