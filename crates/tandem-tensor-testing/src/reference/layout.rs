//! Views on host data: permute and narrow, by index arithmetic.

use crate::tolerance::unflatten;

/// `x.permute(order)`: output dim `i` is input dim `order[i]`.
pub fn permute(x: &[f64], dims: &[usize], order: &[usize]) -> (Vec<usize>, Vec<f64>) {
    let out_dims: Vec<usize> = order.iter().map(|&o| dims[o]).collect();
    let st = super::strides(dims);
    let n = x.len();
    let out = (0..n)
        .map(|i| {
            let idx = unflatten(i, &out_dims);
            x[idx
                .iter()
                .zip(order)
                .map(|(&v, &o)| v * st[o])
                .sum::<usize>()]
        })
        .collect();
    (out_dims, out)
}

/// `x.narrow(dim, start, len)`.
pub fn narrow(
    x: &[f64],
    dims: &[usize],
    dim: usize,
    start: usize,
    len: usize,
) -> (Vec<usize>, Vec<f64>) {
    let mut out_dims = dims.to_vec();
    out_dims[dim] = len;
    let st = super::strides(dims);
    let n: usize = out_dims.iter().product();
    let out = (0..n)
        .map(|i| {
            let mut idx = unflatten(i, &out_dims);
            idx[dim] += start;
            x[idx.iter().zip(&st).map(|(v, s)| v * s).sum::<usize>()]
        })
        .collect();
    (out_dims, out)
}
