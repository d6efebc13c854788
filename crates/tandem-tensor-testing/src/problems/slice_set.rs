//! The in-place write (`Tensor::slice_set`, i.e. `Backend::copy_into`): a strided source written
//! into a region of a strided destination along any dim, in every dtype, with and without a
//! clone of the destination alive (which must keep its old values: copy-on-write).

use super::{check_meta, Ctx};
use crate::input::{arb_dims, download, Dist, Input};
use crate::reference::slice_set;
use crate::{compare, run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub dim: usize,
    pub start: usize,
    pub dst: Input,
    pub src: Input,
    /// Keep a clone of the destination alive across the write (forces copy-on-write).
    pub keep_clone: bool,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dtype = proptest::sample::select(DType::ALL.to_vec());
    (
        dtype,
        arb_dims(1..=4, 9, 2048),
        any::<proptest::sample::Index>(),
        any::<bool>(),
    )
        .prop_flat_map(|(dtype, dims, dim, keep_clone)| {
            let dim = dim.index(dims.len());
            let size = dims[dim];
            (1..=size).prop_flat_map(move |len| {
                let dims = dims.clone();
                let dist = if dtype.is_float() {
                    Dist::Uniform(-2.0, 2.0)
                } else {
                    Dist::Ints(0, 1000)
                };
                let mut src_dims = dims.clone();
                src_dims[dim] = len;
                (
                    0..=size - len,
                    Input::arb(dims, dist, false),
                    Input::arb(src_dims, dist, true),
                )
                    .prop_map(move |(start, dst, src)| Problem {
                        dtype,
                        dim,
                        start,
                        dst,
                        src,
                        keep_clone,
                    })
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("slice_set(dim {}, start {})", p.dim, p.start);
    let mut dst = p.dst.to_tensor(backend, p.dtype).ctx(&what)?;
    let src = p.src.to_tensor(backend, p.dtype).ctx(&what)?;
    let before = if p.keep_clone {
        Some(dst.clone())
    } else {
        None
    };
    dst.slice_set(&src, p.dim, p.start)
        .map_err(|e| format!("{what}: {e}"))?;
    let exact = Tolerance {
        atol: 0.0,
        rtol: 0.0,
        acc: 0.0,
    };
    let old = p.dst.values(p.dtype);
    let expected = slice_set::slice_set(
        &old,
        &p.dst.dims,
        &p.src.values(p.dtype),
        &p.src.dims,
        p.dim,
        p.start,
    );
    check_meta(&what, &dst, &p.dst.dims, p.dtype)?;
    compare(
        &what,
        &p.dst.dims,
        &download(&dst).ctx(&what)?,
        &expected,
        None,
        exact,
    )?;
    if let Some(before) = before {
        let what = format!("{what}: the clone taken before the write");
        compare(
            &what,
            &p.dst.dims,
            &download(&before).ctx(&what)?,
            &old,
            None,
            exact,
        )?;
    }
    Ok(())
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("slice_set", backend, cases, strategy(), check);
}
