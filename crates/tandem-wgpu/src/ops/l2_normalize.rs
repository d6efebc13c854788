//! Fused `x / max(‖x‖₂, eps)` over the last dim (one workgroup per row).

use super::{alloc, bytes, fits_u32, grid_groups};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::Tensor;

const SRC: &str = tandem_kernels::wgsl::L2_NORMALIZE;

pub fn l2_normalize(be: &WgpuBackend, x: &Tensor<WgpuBackend>, eps: f32) -> Result<WgpuStorage> {
    let ctx = be.ctx();
    let cols = *x.dims().last().unwrap_or(&1);
    let n = x.elem_count();
    let rows = n.checked_div(cols).unwrap_or(0);
    let out = alloc(ctx, "l2_normalize", n, x.storage().repr())?;
    let params = [
        fits_u32("l2_normalize", rows)?,
        fits_u32("l2_normalize", cols)?,
        fits_u32("l2_normalize", x.layout().offset())?,
        eps.to_bits(),
    ];
    let spec = KernelSpec {
        name: "l2_normalize",
        entry: "l2_normalize",
        source: SRC,
        types: &[("T", x.storage().repr())],
        flags: &[],
        constants: &[],
        inputs: 1,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[x.storage().buffer(), out.buffer()],
        grid_groups(ctx, rows),
    )?;
    Ok(out)
}
