//! The residual add fused with the layer norm after it (`add_layer_norm.cu`).

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::Tensor;

/// `x`, `r` contiguous with equal dims and dtype; `gamma`, `beta` contiguous of the last dim's
/// size. Returns `(x + r, layer_norm(x + r))`.
pub fn add_layer_norm(
    be: &CudaBackend,
    x: &Tensor<CudaBackend>,
    r: &Tensor<CudaBackend>,
    gamma: &Tensor<CudaBackend>,
    beta: &Tensor<CudaBackend>,
    eps: f32,
) -> Result<(CudaStorage, CudaStorage)> {
    const OP: &str = "add_layer_norm";
    require_float(OP, x.dtype())?;
    let cols = *x.dims().last().unwrap_or(&1);
    let rows = x.elem_count().checked_div(cols).unwrap_or(0);
    let mut sum = alloc(be, x.elem_count(), x.dtype())?;
    let mut normed = alloc(be, x.elem_count(), x.dtype())?;
    if rows == 0 {
        return Ok((sum, normed));
    }
    let c = fits_u32(OP, cols)?;
    let f = be.device().function(OP, &entry(OP, x.dtype()))?;
    let (xv, rv, gv, bv) = (
        view(OP, x.storage(), x.layout().offset())?,
        view(OP, r.storage(), r.layout().offset())?,
        view(OP, gamma.storage(), gamma.layout().offset())?,
        view(OP, beta.storage(), beta.layout().offset())?,
    );
    let mut b = be.stream().launch_builder(&f);
    b.arg(&xv)
        .arg(&rv)
        .arg(&gv)
        .arg(&bv)
        .arg(sum.buf_mut())
        .arg(normed.buf_mut())
        .arg(&c)
        .arg(&eps);
    // SAFETY: arguments match `add_layer_norm_<dtype>`; one block per row.
    launched(be, &f, unsafe { b.launch(grid_rows(OP, rows)?) })?;
    Ok((sum, normed))
}
