//! Top-k over the last dim.

use crate::cpu::storage::CpuStorage;
use rayon::prelude::*;
use std::cmp::Ordering;

/// Descending by value under IEEE total order (NaN above +∞), ties broken by lower index, so
/// the result is deterministic and identical on every backend.
pub fn order(a: (usize, f32), b: (usize, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

pub fn topk_last(
    src: &CpuStorage,
    offset: usize,
    rows: usize,
    cols: usize,
    k: usize,
) -> (CpuStorage, CpuStorage) {
    let values = src.as_f32();
    let data = &values[offset..offset + rows * cols];
    let picked: Vec<(usize, f32)> = data
        .par_chunks(cols)
        .flat_map_iter(|row| {
            let mut items: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
            if k < items.len() {
                items.select_nth_unstable_by(k - 1, |&a, &b| order(a, b));
                items.truncate(k);
            }
            items.sort_by(|&a, &b| order(a, b));
            items
        })
        .collect();
    let vals = picked.iter().map(|p| p.1).collect();
    let idx = picked.iter().map(|p| p.0 as u32).collect();
    (
        CpuStorage::from_f32(vals, src.dtype()),
        CpuStorage::U32(idx),
    )
}
