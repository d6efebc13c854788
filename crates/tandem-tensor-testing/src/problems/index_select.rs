//! index_select along any dim (any dtype, U32 or I64 ids, strided ids) and embedding lookups.

use super::{check_meta, Ctx};
use crate::input::{arb_dims, download, gen_data, upload, Dist, Input};
use crate::reference::index_select;
use crate::{compare, run_problem, Tolerance};
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub dim: usize,
    pub x: Input,
    pub ids: Vec<i64>,
    pub ids_dtype: DType,
    /// Ids uploaded inside a larger buffer and narrowed (a strided index tensor).
    pub ids_narrowed: bool,
}

fn arb_any_dtype() -> BoxedStrategy<DType> {
    proptest::sample::select(DType::ALL.to_vec()).boxed()
}

fn arb_ids(size: usize, dims: Vec<usize>) -> BoxedStrategy<Vec<i64>> {
    let n: usize = dims.iter().product();
    any::<u64>()
        .prop_map(move |seed| {
            gen_data(seed, n, Dist::Ints(0, size as i32 - 1))
                .into_iter()
                .map(|x| x as i64)
                .collect()
        })
        .boxed()
}

fn ids_tensor<B: Backend>(
    backend: &B,
    ids: &[i64],
    dims: &[usize],
    dtype: DType,
    narrowed: bool,
) -> Result<tandem_tensor::Tensor<B>, String> {
    let mut data: Vec<f32> = ids.iter().map(|&i| i as f32).collect();
    if !narrowed {
        return upload(backend, &data, dims, dtype).map_err(|e| e.to_string());
    }
    // Two extra ids on the first dim, in front, then narrowed away.
    let row: usize = dims[1..].iter().product();
    let mut padded = vec![0.0; 2 * row];
    padded.append(&mut data);
    let mut pd = dims.to_vec();
    pd[0] += 2;
    upload(backend, &padded, &pd, dtype)
        .and_then(|t| t.narrow(0, 2, dims[0]))
        .map_err(|e| e.to_string())
}

/// Values of `dtype` that survive every dtype exactly (small integers for the integer types).
fn dist_for(dtype: DType) -> Dist {
    if dtype.is_float() {
        Dist::Uniform(-3.0, 3.0)
    } else {
        Dist::Ints(0, 50_000)
    }
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let ids_dtype = proptest::sample::select(vec![DType::U32, DType::I64]);
    (
        arb_any_dtype(),
        arb_dims(1..=4, 9, 4096),
        ids_dtype,
        any::<bool>(),
        1usize..12,
        any::<proptest::sample::Index>(),
    )
        .prop_flat_map(|(dtype, dims, ids_dtype, ids_narrowed, n_ids, dim)| {
            let dim = dim.index(dims.len());
            let size = dims[dim];
            (
                Input::arb(dims, dist_for(dtype), false),
                arb_ids(size, vec![n_ids]),
            )
                .prop_map(move |(x, ids)| Problem {
                    dtype,
                    dim,
                    x,
                    ids,
                    ids_dtype,
                    ids_narrowed,
                })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!("index_select(dim {})", p.dim);
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let ids = ids_tensor(backend, &p.ids, &[p.ids.len()], p.ids_dtype, p.ids_narrowed)?;
    let y = x
        .index_select(p.dim, &ids)
        .map_err(|e| format!("{what}: {e}"))?;
    let mut dims = p.x.dims.clone();
    dims[p.dim] = p.ids.len();
    let expected = index_select::index_select(&p.x.values(p.dtype), &p.x.dims, p.dim, &p.ids)
        .ok_or("generator made a bad id")?;
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
    run_problem("index_select", backend, cases, strategy(), check);
}

/// An embedding lookup: `table [vocab, d]`, ids of rank 1–3.
#[derive(Clone, Debug)]
pub struct EmbeddingProblem {
    pub dtype: DType,
    pub table: Input,
    pub ids: Vec<i64>,
    pub ids_dims: Vec<usize>,
    pub ids_dtype: DType,
    pub ids_narrowed: bool,
}

pub fn embedding_strategy() -> BoxedStrategy<EmbeddingProblem> {
    let ids_dtype = proptest::sample::select(vec![DType::U32, DType::I64]);
    (
        crate::input::arb_float_dtype(),
        1usize..300,
        1usize..40,
        arb_dims(1..=3, 7, 64),
        ids_dtype,
        any::<bool>(),
    )
        .prop_flat_map(|(dtype, vocab, d, ids_dims, ids_dtype, ids_narrowed)| {
            (
                Input::arb(vec![vocab, d], Dist::Uniform(-1.0, 1.0), true),
                arb_ids(vocab, ids_dims.clone()),
            )
                .prop_map(move |(table, ids)| EmbeddingProblem {
                    dtype,
                    table,
                    ids,
                    ids_dims: ids_dims.clone(),
                    ids_dtype,
                    ids_narrowed,
                })
        })
        .boxed()
}

pub fn check_embedding<B: Backend>(backend: &B, p: &EmbeddingProblem) -> Result<(), String> {
    let what = "embedding";
    let table = p
        .table
        .to_tensor(backend, p.dtype)
        .map_err(|e| e.to_string())?;
    let ids = ids_tensor(backend, &p.ids, &p.ids_dims, p.ids_dtype, p.ids_narrowed)?;
    let y = table.embedding(&ids).map_err(|e| format!("{what}: {e}"))?;
    let mut dims = p.ids_dims.clone();
    dims.push(p.table.dims[1]);
    let expected = index_select::index_select(&p.table.values(p.dtype), &p.table.dims, 0, &p.ids)
        .ok_or("generator made a bad id")?;
    check_meta(what, &y, &dims, p.dtype)?;
    let got = download(&y).ctx(what)?;
    compare(
        what,
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

pub fn run_embedding<B: Backend>(backend: &B, cases: u32) {
    run_problem(
        "embedding",
        backend,
        cases,
        embedding_strategy(),
        check_embedding,
    );
}
