//! The in-place write along a dim, element by element.

use crate::tolerance::unflatten;

/// `dst` (values, row-major over `dst_dims`) with positions `start..start + src_dims[dim]`
/// along `dim` replaced by `src`: output index `idx` reads `src[idx - start·e_dim]` when inside
/// that range, `dst[idx]` otherwise.
pub fn slice_set(
    dst: &[f64],
    dst_dims: &[usize],
    src: &[f64],
    src_dims: &[usize],
    dim: usize,
    start: usize,
) -> Vec<f64> {
    let strides = super::strides(src_dims);
    (0..dst.len())
        .map(|i| {
            let mut idx = unflatten(i, dst_dims);
            if idx[dim] < start || idx[dim] >= start + src_dims[dim] {
                return dst[i];
            }
            idx[dim] -= start;
            src[idx.iter().zip(&strides).map(|(x, s)| x * s).sum::<usize>()]
        })
        .collect()
}
