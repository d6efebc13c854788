//! Naive reference implementations, one concept per file.
//!
//! Every function takes logical row-major host values (`f64`) with explicit dims and computes
//! with plain loops in `f64`. Nothing here is fast or clever on purpose: it is meant to be
//! obviously right by reading it, and independent of every backend's code.

pub mod attention;
pub mod binary;
pub mod cast;
pub mod cat;
pub mod index_select;
pub mod l2_normalize;
pub mod layer_norm;
pub mod layout;
pub mod matmul;
pub mod patch_embed;
pub mod reduce;
pub mod slice_set;
pub mod softmax;
pub mod topk;
pub mod unary;

/// Row-major strides of `dims`.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Flat index in `dims` (numpy-broadcast, right-aligned) of the output multi-index `idx`.
pub fn broadcast_flat(idx: &[usize], dims: &[usize]) -> usize {
    let lead = idx.len() - dims.len();
    let st = strides(dims);
    dims.iter()
        .enumerate()
        .map(|(d, &n)| if n == 1 { 0 } else { idx[lead + d] * st[d] })
        .sum()
}

/// Numpy broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let y = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}
