//! Concatenation along a dim.

use crate::tolerance::unflatten;

/// Concatenates `parts` (values, dims) along `dim`, element by element: output index `idx`
/// reads the part whose range along `dim` contains `idx[dim]`.
pub fn cat(parts: &[(&[f64], &[usize])], dim: usize) -> (Vec<usize>, Vec<f64>) {
    let mut dims = parts[0].1.to_vec();
    dims[dim] = parts.iter().map(|(_, d)| d[dim]).sum();
    let n: usize = dims.iter().product();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut idx = unflatten(i, &dims);
        let mut part = 0;
        while idx[dim] >= parts[part].1[dim] {
            idx[dim] -= parts[part].1[dim];
            part += 1;
        }
        let pd = parts[part].1;
        let flat = idx
            .iter()
            .zip(super::strides(pd))
            .map(|(x, s)| x * s)
            .sum::<usize>();
        out.push(parts[part].0[flat]);
    }
    (dims, out)
}
