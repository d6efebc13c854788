//! Top-k over the last dim.

use std::cmp::Ordering;

/// Descending under IEEE total order (NaN above +inf, -0 below +0), ties by lower index;
/// returns (values, indices) of `rows × k`. Written as a full stable sort of each row.
pub fn topk_last(x: &[f64], cols: usize, k: usize) -> (Vec<f64>, Vec<u32>) {
    let mut values = Vec::new();
    let mut indices = Vec::new();
    for row in x.chunks(cols) {
        let mut order: Vec<usize> = (0..cols).collect();
        // Values came from f32/f16/bf16 storage, so comparing their f32 images is exact.
        order.sort_by(|&a, &b| match (row[b] as f32).total_cmp(&(row[a] as f32)) {
            Ordering::Equal => a.cmp(&b),
            o => o,
        });
        for &i in &order[..k] {
            values.push(row[i]);
            indices.push(i as u32);
        }
    }
    (values, indices)
}
