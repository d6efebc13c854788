//! Fused layer norm over the last dim (one workgroup per row).

use super::{alloc, bytes, fits_u32, grid_groups};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::Tensor;

const SRC: &str = tandem_kernels::wgsl::LAYER_NORM;

/// `x`, `gamma`, `beta` contiguous; gamma/beta have the last dim's size.
pub fn layer_norm(
    be: &WgpuBackend,
    x: &Tensor<WgpuBackend>,
    gamma: &Tensor<WgpuBackend>,
    beta: &Tensor<WgpuBackend>,
    eps: f32,
) -> Result<WgpuStorage> {
    let ctx = be.ctx();
    let cols = *x.dims().last().unwrap_or(&1);
    let n = x.elem_count();
    let rows = n.checked_div(cols).unwrap_or(0);
    let out = alloc(ctx, "layer_norm", n, x.storage().repr())?;
    let params = [
        fits_u32("layer_norm", rows)?,
        fits_u32("layer_norm", cols)?,
        fits_u32("layer_norm", x.layout().offset())?,
        eps.to_bits(),
        fits_u32("layer_norm", gamma.layout().offset())?,
        fits_u32("layer_norm", beta.layout().offset())?,
        0,
        0,
    ];
    let spec = KernelSpec {
        name: "layer_norm",
        entry: "layer_norm",
        source: SRC,
        types: &[("T", x.storage().repr())],
        flags: &[],
        constants: &[],
        inputs: 3,
        outputs: 1,
    };
    let bufs = [
        x.storage().buffer(),
        gamma.storage().buffer(),
        beta.storage().buffer(),
        out.buffer(),
    ];
    ctx.dispatch(&spec, bytes(&params), &bufs, grid_groups(ctx, rows))?;
    Ok(out)
}
