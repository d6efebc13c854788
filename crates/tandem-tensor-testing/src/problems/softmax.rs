//! Softmax over the last dim with an additive mask (broadcast, possibly `-inf` padding) and the
//! causal flag (queries at the end of the keys, as in a KV cache).

use crate::input::{arb_float_dtype, arb_size, Dist, Input};
use crate::reference::{broadcast_flat, softmax};
use crate::run_problem;
use crate::tolerance::unflatten;
use proptest::prelude::*;
use tandem_tensor::{Backend, DType};

#[derive(Clone, Debug)]
pub struct Problem {
    pub dtype: DType,
    pub causal: bool,
    pub x: Input,
    pub mask: Option<Input>,
}

/// A mask for scores of `dims`: leading dims dropped or set to 1; additive values or a padding
/// mask of `0` / `-inf`.
pub fn arb_mask(dims: Vec<usize>) -> BoxedStrategy<Input> {
    let r = dims.len();
    (
        0..=r.saturating_sub(1),
        proptest::collection::vec(proptest::bool::weighted(0.5), r),
        any::<bool>(),
    )
        .prop_flat_map(move |(drop, ones, padding)| {
            let md: Vec<usize> = dims
                .iter()
                .zip(&ones)
                .skip(drop)
                .map(|(&d, &o)| if o { 1 } else { d })
                .collect();
            let dist = if padding {
                Dist::Ints(0, 4)
            } else {
                Dist::Uniform(-3.0, 3.0)
            };
            Input::arb(md, dist, true).prop_map(move |mut m| {
                if padding {
                    m.data
                        .iter_mut()
                        .for_each(|v| *v = if *v == 0.0 { f32::NEG_INFINITY } else { 0.0 });
                }
                m
            })
        })
        .boxed()
}

/// `mask` expanded to `dims` (row-major).
pub fn expand(mask: &[f64], mask_dims: &[usize], dims: &[usize]) -> Vec<f64> {
    let n: usize = dims.iter().product();
    (0..n)
        .map(|i| mask[broadcast_flat(&unflatten(i, dims), mask_dims)])
        .collect()
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let lead = proptest::collection::vec(arb_size(5), 0..=2);
    let rows = prop_oneof![4 => (arb_size(20), arb_size(40)), 1 => (1usize..3, 1000usize..3000)];
    (arb_float_dtype(), any::<bool>(), lead, rows, any::<bool>())
        .prop_flat_map(|(dtype, causal, mut dims, (lq, lk), with_mask)| {
            let lq = if causal { lq.min(lk) } else { lq };
            dims.extend([lq, lk]);
            let mask = if with_mask {
                arb_mask(dims.clone()).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (Input::arb(dims, Dist::Uniform(-4.0, 4.0), false), mask).prop_map(move |(x, mask)| {
                Problem {
                    dtype,
                    causal,
                    x,
                    mask,
                }
            })
        })
        .boxed()
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> Result<(), String> {
    let what = format!(
        "softmax (causal {}, mask {:?})",
        p.causal,
        p.mask.as_ref().map(|m| &m.dims)
    );
    let x = p.x.to_tensor(backend, p.dtype).map_err(|e| e.to_string())?;
    let mask = p
        .mask
        .as_ref()
        .map(|m| m.to_tensor(backend, p.dtype))
        .transpose()
        .map_err(|e| e.to_string())?;
    let y = x
        .softmax(mask.as_ref(), p.causal)
        .map_err(|e| format!("{what}: {e}"))?;
    let mask_v = p
        .mask
        .as_ref()
        .map(|m| expand(&m.values(p.dtype), &m.dims, &p.x.dims));
    let expected = softmax::softmax(&p.x.values(p.dtype), &p.x.dims, mask_v.as_deref(), p.causal);
    check_probabilities(&what, &y, &p.x.dims, p.dtype, &expected)
}

/// Probabilities get a relative tolerance derived from the dtype and the row length
/// ([`crate::close::probabilities`]: an absolute half-precision tolerance passes an all-zero
/// softmax once rows are long enough that every probability is below it) and a row-sum check.
/// Rows the reference leaves NaN (every key masked) must be NaN and are left out of the sums.
pub(crate) fn check_probabilities<B: Backend>(
    what: &str,
    y: &tandem_tensor::Tensor<B>,
    dims: &[usize],
    dtype: DType,
    expected: &[f64],
) -> Result<(), String> {
    super::check_meta(what, y, dims, dtype)?;
    let got = crate::input::download(y).map_err(|e| format!("{what}: {e}"))?;
    let cols = dims.last().copied().unwrap_or(1).max(1);
    let tol = crate::close::probabilities(dtype, cols);
    crate::close::compare_elements(what, dims, &got, expected, |_, e| tol.allowed(e), true)
        .map_err(|e| format!("{e} (probabilities: {tol:?})"))?;
    // Σ_j p_j = 1: each stored p_j is within `tol.rel·p_j + tol.abs` of the truth, so the row
    // sum is within `tol.rel + cols·tol.abs` of 1.
    for (r, (g, e)) in got.chunks(cols).zip(expected.chunks(cols)).enumerate() {
        if e.iter().any(|v| v.is_nan()) {
            continue;
        }
        crate::close::check_row_sums(
            &format!("{what} row {r}"),
            &[1, cols],
            g,
            tol.rel + cols as f64 * tol.abs,
        )?;
    }
    Ok(())
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("softmax", backend, cases, strategy(), check);
}
