//! Fused softmax over the last dim with an additive mask and a causal flag, one pass per row.

use super::activation::{self, Activation};
use super::copy::row_offsets;
use crate::cpu::storage::CpuStorage;
use crate::layout::Layout;
use rayon::prelude::*;

/// Normalises `row` in place: `row = softmax(row)`. Entries of `-inf` get probability 0.
/// The exponentials are the vectorised [`activation::exp`]; the sum runs left to right.
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    row.iter_mut().for_each(|x| *x -= max);
    activation::apply(Activation::Exp, row);
    let sum: f32 = row.iter().sum();
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
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
