//! Dtype conversion (Rust `as` semantics; see cast.wgsl).

use super::{alloc, bytes, fits_u32, grid_1d};
use crate::error::Result;
use crate::runtime::kernel::{KernelSpec, Repr};
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

const SRC: &str = tandem_kernels::wgsl::CAST;

/// Converts `len` elements of `src` starting at `offset` to `to`.
pub fn cast(
    ctx: &Arc<Context>,
    src: &WgpuStorage,
    offset: usize,
    len: usize,
    to: Repr,
) -> Result<WgpuStorage> {
    let from = src.repr();
    let out = alloc(ctx, "cast", len, to)?;
    if from == to || (from.raw() == to.raw() && !from.is_float() && !to.is_float()) {
        super::copy::copy_into(ctx, src, &[len], &[1], offset, &out, &[1], 0)?;
        return Ok(out);
    }
    let src_flag = match from {
        Repr::U32 => "SRC_U32",
        Repr::I64 => "SRC_I64",
        _ => "SRC_FLOAT",
    };
    let dst_flag = match to {
        Repr::U32 => "DST_U32",
        Repr::I64 => "DST_I64",
        _ => "DST_FLOAT",
    };
    let params = [fits_u32("cast", len)?, fits_u32("cast", offset)?, 0, 0];
    let spec = KernelSpec {
        name: "cast",
        entry: "cast_elements",
        source: SRC,
        types: &[("S", from), ("D", to)],
        flags: &[src_flag, dst_flag],
        constants: &[],
        inputs: 1,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), out.buffer()],
        grid_1d(ctx, len),
    )?;
    Ok(out)
}
