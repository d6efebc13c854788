//! Batched matmul: every transpose combination (passed as views), broadcast batch dims (dropped,
//! size 1, stride 0), narrowed and permuted operands.

use super::check_float;
use crate::input::{arb_float_dtype, arb_size, Dist, Input, ViewSpec};
use crate::reference::matmul;
use crate::{run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub a: Input,
    pub b: Input,
}

/// Views of a matrix operand of `rank` dims: contiguous, transposed (last two dims stored
/// swapped, possibly narrowed), any strided view, or stride-0 batch dims.
pub fn arb_matrix_view(rank: usize) -> BoxedStrategy<ViewSpec> {
    let mut swapped: Vec<usize> = (0..rank).collect();
    swapped.swap(rank - 2, rank - 1);
    let transposed = (0..rank, 0usize..3, 0usize..3).prop_map(move |(pad_dim, before, after)| {
        ViewSpec::Strided {
            order: swapped.clone(),
            pad_dim,
            before,
            after,
        }
    });
    let batch_bc = proptest::collection::vec(any::<bool>(), rank - 2).prop_map(|mut bc| {
        bc.extend([false, false]);
        ViewSpec::Broadcast { broadcast: bc }
    });
    prop_oneof![2 => Just(ViewSpec::Contiguous), 3 => transposed, 2 => crate::input::arb_view(rank), 1 => batch_bc].boxed()
}

/// Batch dims of one operand broadcasting to `out`: some leading dims dropped, some set to 1.
pub fn operand_batch(out: &[usize]) -> BoxedStrategy<Vec<usize>> {
    let out = out.to_vec();
    let r = out.len();
    (
        0..=r,
        proptest::collection::vec(proptest::bool::weighted(0.3), r),
    )
        .prop_map(move |(drop, ones)| {
            out.iter()
                .zip(&ones)
                .skip(drop)
                .map(|(&d, &o)| if o { 1 } else { d })
                .collect()
        })
        .boxed()
}

pub fn matrix_input(batch: Vec<usize>, rows: usize, cols: usize) -> BoxedStrategy<Input> {
    let mut dims = batch;
    dims.extend([rows, cols]);
    let n: usize = dims.iter().product();
    (any::<u64>(), arb_matrix_view(dims.len()))
        .prop_map(move |(seed, view)| {
            Input::new(
                dims.clone(),
                crate::input::gen_data(seed, n, Dist::Uniform(-1.0, 1.0)),
                view,
            )
        })
        .boxed()
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let batch = proptest::collection::vec(1usize..4, 0..=2);
    let mnk = prop_oneof![4 => (arb_size(40), arb_size(40), arb_size(40)), 1 => (arb_size(130), arb_size(130), 1usize..130)];
    (arb_float_dtype(), batch, mnk)
        .prop_flat_map(|(dtype, batch, (m, n, k))| {
            (
                Just(dtype),
                operand_batch(&batch),
                operand_batch(&batch),
                Just((m, n, k)),
            )
        })
        .prop_flat_map(|(dtype, ab, bb, (m, n, k))| {
            (matrix_input(ab, m, k), matrix_input(bb, k, n)).prop_map(move |(a, b)| Problem {
                dtype,
                a,
                b,
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = "matmul";
    let a = p.a.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let b = p.b.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let y = a.matmul(&b).map_err(|e| format!("{what}: {e}"))?;
    let r = matmul::matmul(
        &p.a.values(p.dtype),
        &p.a.dims,
        &p.b.values(p.dtype),
        &p.b.dims,
        None,
        None,
    )
    .ok_or_else(|| format!("{what}: generator produced incompatible shapes"))?;
    check_float(
        what,
        &y,
        &r.dims,
        p.dtype,
        &r.values,
        Some(&r.scale),
        Tolerance::of(p.dtype),
    )
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("matmul", backend, cases, strategy(), check);
}
