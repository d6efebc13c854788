//! The residual add fused with the layer norm after it (one workgroup per row).

use super::{alloc, bytes, fits_u32, grid_groups};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::Tensor;

const SRC: &str = tandem_kernels::wgsl::ADD_LAYER_NORM;

/// `x`, `r` contiguous with equal dims and repr; `gamma`, `beta` contiguous of the last dim's
/// size. Returns `(x + r, layer_norm(x + r))` as two new storages.
pub fn add_layer_norm(
    be: &WgpuBackend,
    x: &Tensor<WgpuBackend>,
    r: &Tensor<WgpuBackend>,
    gamma: &Tensor<WgpuBackend>,
    beta: &Tensor<WgpuBackend>,
    eps: f32,
) -> Result<(WgpuStorage, WgpuStorage)> {
    const OP: &str = "add_layer_norm";
    let ctx = be.ctx();
    let cols = *x.dims().last().unwrap_or(&1);
    let n = x.elem_count();
    let rows = n.checked_div(cols).unwrap_or(0);
    let sum = alloc(ctx, OP, n, x.storage().repr())?;
    let normed = alloc(ctx, OP, n, x.storage().repr())?;
    let params = [
        fits_u32(OP, rows)?,
        fits_u32(OP, cols)?,
        fits_u32(OP, x.layout().offset())?,
        eps.to_bits(),
        fits_u32(OP, gamma.layout().offset())?,
        fits_u32(OP, beta.layout().offset())?,
        fits_u32(OP, r.layout().offset())?,
        0,
    ];
    let spec = KernelSpec {
        name: OP,
        entry: OP,
        source: SRC,
        types: &[("T", x.storage().repr())],
        flags: &[],
        constants: &[],
        inputs: 4,
        outputs: 2,
    };
    let bufs = [
        x.storage().buffer(),
        r.storage().buffer(),
        gamma.storage().buffer(),
        beta.storage().buffer(),
        sum.buffer(),
        normed.buffer(),
    ];
    ctx.dispatch(&spec, bytes(&params), &bufs, grid_groups(ctx, rows))?;
    Ok((sum, normed))
}
