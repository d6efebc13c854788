//! Layer norm over the last dim (`layer_norm.cu`).

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::Tensor;

/// All three contiguous; `gamma`, `beta` of the last dim's size.
pub fn layer_norm(
    be: &CudaBackend,
    x: &Tensor<CudaBackend>,
    gamma: &Tensor<CudaBackend>,
    beta: &Tensor<CudaBackend>,
    eps: f32,
) -> Result<CudaStorage> {
    require_float("layer_norm", x.dtype())?;
    let cols = *x.dims().last().unwrap_or(&1);
    let rows = x.elem_count().checked_div(cols).unwrap_or(0);
    let mut out = alloc(be, x.elem_count(), x.dtype())?;
    if rows == 0 {
        return Ok(out);
    }
    let c = fits_u32("layer_norm", cols)?;
    let f = be
        .device()
        .function("layer_norm", &entry("layer_norm", x.dtype()))?;
    let (xv, gv, bv) = (
        view("layer_norm", x.storage(), x.layout().offset())?,
        view("layer_norm", gamma.storage(), gamma.layout().offset())?,
        view("layer_norm", beta.storage(), beta.layout().offset())?,
    );
    let mut b = be.stream().launch_builder(&f);
    b.arg(&xv)
        .arg(&gv)
        .arg(&bv)
        .arg(out.buf_mut())
        .arg(&c)
        .arg(&eps);
    // SAFETY: arguments match `layer_norm_<dtype>`; one block per row.
    launched(be, &f, unsafe { b.launch(grid_rows("layer_norm", rows)?) })?;
    Ok(out)
}
