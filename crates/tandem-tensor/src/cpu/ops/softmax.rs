//! Fused softmax over the last dim with an additive mask and a causal flag, one pass per row.

use super::activation::{self, Activation};
use super::copy::row_offsets;
use crate::cpu::storage::CpuStorage;
use crate::layout::Layout;
use rayon::prelude::*;

/// Normalises `row` in place: `row = softmax(row)`. Entries of `-inf` get probability 0.
/// The exponentials are the vectorised [`activation::exp`]; the max and the sum run in
/// `LANES` independent lanes (see `lanes`).
pub fn softmax_row(row: &mut [f32]) {
    let max = lanes(row, f32::NEG_INFINITY, f32::max);
    row.iter_mut().for_each(|x| *x -= max);
    activation::apply(Activation::Exp, row);
    let sum = lanes(row, 0.0, |a, b| a + b);
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

/// Partial results of the row's reduction: one running max or sum is a serial dependency the
/// compiler may not reorder (float addition is not associative), so it stays scalar; eight
/// independent lanes are one vector register's worth and vectorise as written.
const LANES: usize = 8;

/// `row` folded with `op` from `init`: lane `i` folds elements `i, i + 8, …`, then the lanes
/// and the tail fold together. For `f32::max` the result is the same as a left-to-right fold
/// (NaN is ignored either way); a sum differs from left to right only by rounding, within the
/// `γ_n` bound of any summation order.
fn lanes(row: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = op(*a, x);
        }
    }
    acc.iter().chain(tail).fold(init, |a, &x| op(a, x))
}

/// `x` is contiguous (`rows × cols` from `offset`); `mask` has `x`'s dims with any strides.
/// With `causal`, row `r` is query `r % lq` of `lq = dims[rank-2]` and sees keys
/// `0..=cols - lq + r % lq`.
pub fn softmax_last(
    x: &CpuStorage,
    xl: &Layout,
    mask: Option<(&CpuStorage, &Layout)>,
    causal: bool,
) -> CpuStorage {
    let dims = xl.dims();
    let cols = *dims.last().unwrap_or(&1);
    let lq = if dims.len() >= 2 {
        dims[dims.len() - 2]
    } else {
        1
    };
    let n = xl.elem_count();
    let values = x.as_f32();
    let mut out = values[xl.offset()..xl.offset() + n].to_vec();
    if cols == 0 {
        return CpuStorage::from_f32(out, x.dtype());
    }
    let mask = mask.map(|(s, l)| (s.as_f32(), row_offsets(l)));
    out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        if let Some((m, (offsets, _, stride))) = &mask {
            let start = offsets[r];
            row.iter_mut()
                .enumerate()
                .for_each(|(j, v)| *v += m[start + j * stride]);
        }
        if causal {
            let visible = cols - lq + r % lq + 1;
            row[visible..]
                .iter_mut()
                .for_each(|v| *v = f32::NEG_INFINITY);
        }
        softmax_row(row);
    });
    CpuStorage::from_f32(out, x.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths around the lane count (empty lanes, a tail, both), the max anywhere in the row,
    /// NaN ignored by max as a left fold ignores it, and the sum against f64.
    #[test]
    fn lanes_fold_every_element_once() {
        for len in [0usize, 1, 7, 8, 9, 16, 17, 577] {
            let row: Vec<f32> = (0..len).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
            let left = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(lanes(&row, f32::NEG_INFINITY, f32::max), left, "len {len}");
            let exact: f64 = row.iter().map(|&x| f64::from(x)).sum();
            // Integers below 2^24: every partial sum is exact in f32.
            assert_eq!(
                f64::from(lanes(&row, 0.0, |a, b| a + b)),
                exact,
                "len {len}"
            );
            for at in [0, len / 2, len.saturating_sub(1)] {
                if len == 0 {
                    continue;
                }
                let mut r = row.clone();
                r[at] = 1e6;
                assert_eq!(
                    lanes(&r, f32::NEG_INFINITY, f32::max),
                    1e6,
                    "len {len} at {at}"
                );
                r[at] = f32::NAN;
                let left = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(
                    lanes(&r, f32::NEG_INFINITY, f32::max).to_bits(),
                    left.to_bits(),
                    "NaN at {at} of {len}"
                );
            }
        }
    }
}
