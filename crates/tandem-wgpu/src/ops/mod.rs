//! Host side of each kernel, one op per file (`kernels/wgsl/<op>.wgsl` beside it by name).

pub mod attention;
pub mod binary;
pub mod cast;
pub mod copy;
pub mod fill;
pub mod index_select;
pub mod layer_norm;
pub mod l2_normalize;
pub mod matmul;
pub mod reduce;
pub mod softmax;
pub mod topk;
pub mod unary;

use crate::error::{Result, WgpuError};
use crate::runtime::kernel::Repr;
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

/// Fresh output storage of `len` elements.
pub(crate) fn alloc(ctx: &Arc<Context>, op: &'static str, len: usize, repr: Repr) -> Result<WgpuStorage> {
    let bytes = (len * repr.bytes()) as u64;
    let buffer = ctx.acquire(op, bytes.max(4), false)?;
    Ok(WgpuStorage::new(buffer, len, repr, ctx.clone()))
}

/// Workgroup grid covering `threads` invocations in groups of 256 (split over x and y).
pub(crate) fn grid_1d(ctx: &Context, threads: usize) -> [u32; 3] {
    grid_groups(ctx, threads.div_ceil(256))
}

/// A grid of exactly `groups` logical workgroups (indexed `y · nx + x`), e.g. one per row.
pub(crate) fn grid_groups(ctx: &Context, groups: usize) -> [u32; 3] {
    let max = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let x = groups.min(max);
    let y = if x == 0 { 0 } else { groups.div_ceil(x) };
    [x as u32, y as u32, 1]
}

/// Checks that element counts and indices fit the kernels' u32 arithmetic.
pub(crate) fn fits_u32(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| WgpuError::Unsupported { op, message: format!("{n} elements exceed the 32-bit index range") })
}

/// Collapses dims that every operand walks contiguously (and drops size-1 dims), so strided
/// kernels see the smallest rank. `strides[o]` are operand `o`'s strides over `dims`.
pub(crate) fn merge_dims(dims: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for (i, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let mergeable = match out_dims.last() {
            Some(_) => strides.iter().enumerate().all(|(o, s)| out_strides[o].last() == Some(&(s[i] * d))),
            None => false,
        };
        if mergeable {
            let last = out_dims.len() - 1;
            out_dims[last] *= d;
            for (o, s) in strides.iter().enumerate() {
                out_strides[o][last] = s[i];
            }
        } else {
            out_dims.push(d);
            for (o, s) in strides.iter().enumerate() {
                out_strides[o].push(s[i]);
            }
        }
    }
    if out_dims.is_empty() {
        out_dims.push(1);
        out_strides.iter_mut().for_each(|s| s.push(0));
    }
    (out_dims, out_strides)
}

/// Packs up to 8 values into the two `vec4<u32>` a kernel's params hold for a rank-8 shape.
pub(crate) fn pack8(op: &'static str, values: &[usize]) -> Result<[u32; 8]> {
    if values.len() > 8 {
        return Err(WgpuError::Unsupported { op, message: format!("rank {} exceeds 8 after merging dims", values.len()) });
    }
    let mut out = [0u32; 8];
    for (o, &v) in out.iter_mut().zip(values) {
        *o = fits_u32(op, v)?;
    }
    Ok(out)
}

/// Params words → bytes.
pub(crate) fn bytes(words: &[u32]) -> &[u8] {
    bytemuck::cast_slice(words)
}

#[cfg(test)]
mod tests {
    use super::merge_dims;

    #[test]
    fn merges_contiguous_dims_and_keeps_broadcasts_apart() {
        let (d, s) = merge_dims(&[2, 3, 4], &[vec![12, 4, 1], vec![0, 4, 1]]);
        assert_eq!(d, vec![2, 12]);
        assert_eq!(s, vec![vec![12, 1], vec![0, 1]]);
        let (d, s) = merge_dims(&[1, 5], &[vec![5, 1]]);
        assert_eq!((d, s), (vec![5], vec![vec![1]]));
        let (d, s) = merge_dims(&[3, 4], &[vec![1, 3]]);
        assert_eq!((d, s), (vec![3, 4], vec![vec![1, 3]]));
    }
}
