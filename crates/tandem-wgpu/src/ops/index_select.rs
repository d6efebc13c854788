//! Gather along a dim (embedding lookups) by U32 or I64 ids.

use super::{alloc, bytes, fits_u32, grid_1d};
use crate::error::Result;
use crate::runtime::kernel::{KernelSpec, Repr};
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;

const SRC: &str = tandem_kernels::wgsl::INDEX_SELECT;

/// `src` is contiguous with `dims` from `offset`; `ids` holds `n_ids` in-range ids from `ids_offset`.
#[allow(clippy::too_many_arguments)]
pub fn index_select(
    ctx: &Arc<Context>,
    src: &WgpuStorage,
    offset: usize,
    dims: &[usize],
    dim: usize,
    ids: &WgpuStorage,
    ids_offset: usize,
    n_ids: usize,
) -> Result<WgpuStorage> {
    let outer: usize = dims[..dim].iter().product();
    let inner: usize = dims[dim + 1..].iter().product();
    let n = outer * n_ids * inner;
    let out = alloc(ctx, "index_select", n, src.repr())?;
    if n == 0 {
        return Ok(out);
    }
    let params = [
        fits_u32("index_select", n)?,
        fits_u32("index_select", offset)?,
        fits_u32("index_select", ids_offset)?,
        fits_u32("index_select", inner)?,
        fits_u32("index_select", dims[dim])?,
        fits_u32("index_select", n_ids)?,
        0,
        0,
    ];
    let flags: &[&str] = if ids.repr() == Repr::I64 {
        &["IDS_I64"]
    } else {
        &[]
    };
    let spec = KernelSpec {
        name: "index_select",
        entry: "index_select",
        source: SRC,
        types: &[("E", src.repr().raw())],
        flags,
        constants: &[],
        inputs: 2,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), ids.buffer(), out.buffer()],
        grid_1d(ctx, n),
    )?;
    Ok(out)
}
