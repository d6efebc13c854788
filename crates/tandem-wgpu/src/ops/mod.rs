//! Host side of each kernel, one op per file (`kernels/wgsl/<op>.wgsl` beside it by name).

pub mod add_layer_norm;
pub mod attention;
pub mod binary;
pub mod cast;
pub mod copy;
pub mod fill;
pub mod index_select;
pub mod l2_normalize;
pub mod layer_norm;
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
pub(crate) use tandem_tensor::layout::merge_dims;

/// Fresh output storage of `len` elements.
pub(crate) fn alloc(
    ctx: &Arc<Context>,
    op: &'static str,
    len: usize,
    repr: Repr,
) -> Result<WgpuStorage> {
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
    u32::try_from(n).map_err(|_| WgpuError::Unsupported {
        op,
        message: format!("{n} elements exceed the 32-bit index range"),
    })
}

/// Packs up to 8 values into the two `vec4<u32>` a kernel's params hold for a rank-8 shape.
pub(crate) fn pack8(op: &'static str, values: &[usize]) -> Result<[u32; 8]> {
    if values.len() > 8 {
        return Err(WgpuError::Unsupported {
            op,
            message: format!("rank {} exceeds 8 after merging dims", values.len()),
        });
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
