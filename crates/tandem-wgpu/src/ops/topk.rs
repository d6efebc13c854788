//! Top-k over the last dim (one workgroup per row, k selection rounds).

use super::{alloc, bytes, fits_u32, grid_groups};
use crate::error::Result;
use crate::runtime::kernel::{KernelSpec, Repr};
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

const SRC: &str = tandem_kernels::wgsl::TOPK;

pub fn topk_last(
    ctx: &Arc<Context>,
    src: &WgpuStorage,
    offset: usize,
    rows: usize,
    cols: usize,
    k: usize,
) -> Result<(WgpuStorage, WgpuStorage)> {
    let values = alloc(ctx, "topk", rows * k, src.repr())?;
    let indices = alloc(ctx, "topk", rows * k, Repr::U32)?;
    let params = [
        fits_u32("topk", rows)?,
        fits_u32("topk", cols)?,
        fits_u32("topk", offset)?,
        fits_u32("topk", k)?,
    ];
    let spec = KernelSpec {
        name: "topk",
        entry: "topk",
        source: SRC,
        types: &[("T", src.repr())],
        flags: &[],
        constants: &[],
        inputs: 1,
        outputs: 2,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), values.buffer(), indices.buffer()],
        grid_groups(ctx, rows),
    )?;
    Ok((values, indices))
}
