//! Reductions over the last dim (one workgroup per row).

use super::{alloc, bytes, fits_u32, grid_groups};
use crate::error::Result;
use crate::runtime::kernel::{KernelSpec, Repr};
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;
use tandem_tensor::ReduceOp;

const SRC: &str = tandem_kernels::wgsl::REDUCE;

pub fn reduce_last(
    ctx: &Arc<Context>,
    op: ReduceOp,
    src: &WgpuStorage,
    offset: usize,
    rows: usize,
    cols: usize,
) -> Result<WgpuStorage> {
    let (code, arg) = match op {
        ReduceOp::Sum => (0, false),
        ReduceOp::Max => (1, false),
        ReduceOp::Min => (2, false),
        ReduceOp::ArgMax => (3, true),
        ReduceOp::ArgMin => (4, true),
    };
    let out = alloc(
        ctx,
        "reduce",
        rows,
        if arg { Repr::U32 } else { src.repr() },
    )?;
    let params = [
        fits_u32("reduce", rows)?,
        fits_u32("reduce", cols)?,
        fits_u32("reduce", offset)?,
        0,
    ];
    let constants = [("OP", code as f64)];
    let flags: &[&str] = if arg { &["ARG"] } else { &[] };
    let spec = KernelSpec {
        name: "reduce",
        entry: "reduce",
        source: SRC,
        types: &[("T", src.repr())],
        flags,
        constants: &constants,
        inputs: 1,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), out.buffer()],
        grid_groups(ctx, rows),
    )?;
    Ok(out)
}
