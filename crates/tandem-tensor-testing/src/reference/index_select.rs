//! Gathering entries along a dim (index_select; embedding is index_select on dim 0).

/// `x: dims`, picks `ids` along `dim` → dims with `dims[dim] = ids.len()`. `None` when an id
/// is out of range.
pub fn index_select(x: &[f64], dims: &[usize], dim: usize, ids: &[i64]) -> Option<Vec<f64>> {
    let outer: usize = dims[..dim].iter().product();
    let inner: usize = dims[dim + 1..].iter().product();
    let size = dims[dim];
    let mut out = Vec::with_capacity(outer * ids.len() * inner);
    for o in 0..outer {
        for &id in ids {
            if id < 0 || id as usize >= size {
                return None;
            }
            for i in 0..inner {
                out.push(x[(o * size + id as usize) * inner + i]);
            }
        }
    }
    Some(out)
}
