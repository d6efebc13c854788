//! Strided → contiguous copies (`contiguous()`), and the strided writes concat is made of.

use super::{alloc, bytes, fits_u32, grid_1d, merge_dims, pack8};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

const SRC: &str = tandem_kernels::wgsl::COPY;

/// Records a copy of the `dims` elements at `src_offset + Σ idx·src_strides` of `src` into
/// `dst_offset + Σ idx·dst_strides` of `dst`.
#[allow(clippy::too_many_arguments)]
pub fn copy_into(
    ctx: &Context,
    src: &WgpuStorage,
    dims: &[usize],
    src_strides: &[usize],
    src_offset: usize,
    dst: &WgpuStorage,
    dst_strides: &[usize],
    dst_offset: usize,
) -> Result<()> {
    let n: usize = dims.iter().product();
    if n == 0 {
        return Ok(());
    }
    let (d, s) = merge_dims(dims, &[src_strides.to_vec(), dst_strides.to_vec()]);
    let raw = src.repr().raw();
    // A plain contiguous run of 32-bit-aligned bytes is a buffer copy, not a kernel.
    let rb = raw.bytes();
    if d.len() == 1
        && s[0][0] == 1
        && s[1][0] == 1
        && (src_offset * rb).is_multiple_of(4)
        && (dst_offset * rb).is_multiple_of(4)
        && (n * rb).is_multiple_of(4)
    {
        ctx.copy(
            src.buffer(),
            (src_offset * rb) as u64,
            dst.buffer(),
            (dst_offset * rb) as u64,
            (n * rb) as u64,
        );
        return Ok(());
    }
    let mut params = vec![
        fits_u32("copy", n)?,
        fits_u32("copy", src_offset)?,
        fits_u32("copy", dst_offset)?,
        d.len() as u32,
    ];
    params.extend(pack8("copy", &d)?);
    params.extend(pack8("copy", &s[0])?);
    params.extend(pack8("copy", &s[1])?);
    let spec = KernelSpec {
        name: "copy",
        entry: "copy",
        source: SRC,
        types: &[("E", raw)],
        flags: &[],
        constants: &[],
        inputs: 1,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), dst.buffer()],
        grid_1d(ctx, n),
    )
}

/// A contiguous copy of the strided view (`dims`, `strides`, `offset`) of `src`.
pub fn copy_strided(
    ctx: &Arc<Context>,
    src: &WgpuStorage,
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<WgpuStorage> {
    let n: usize = dims.iter().product();
    let out = alloc(ctx, "copy", n, src.repr())?;
    let dst_strides = tandem_tensor::layout::contiguous_strides(dims);
    copy_into(ctx, src, dims, strides, offset, &out, &dst_strides, 0)?;
    Ok(out)
}
