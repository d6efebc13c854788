//! Index-select along a dim (embedding lookups, picking pooled tokens).

use crate::cpu::storage::{map_vec, CpuStorage};

/// `src` is contiguous with `dims` starting at `offset`; `ids` are in range.
pub fn index_select(
    src: &CpuStorage,
    offset: usize,
    dims: &[usize],
    dim: usize,
    ids: &[i64],
) -> CpuStorage {
    let outer: usize = dims[..dim].iter().product();
    let inner: usize = dims[dim + 1..].iter().product();
    let size = dims[dim];
    map_vec!(src, v => {
        let mut out = Vec::with_capacity(outer * ids.len() * inner);
        for o in 0..outer {
            for &i in ids {
                let start = offset + (o * size + i as usize) * inner;
                out.extend_from_slice(&v[start..start + inner]);
            }
        }
        out
    })
}
