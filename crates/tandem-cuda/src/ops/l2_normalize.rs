//! `x / max(‖x‖₂, eps)` over the last dim (`l2_normalize.cu`).

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::Tensor;

pub fn l2_normalize(be: &CudaBackend, x: &Tensor<CudaBackend>, eps: f32) -> Result<CudaStorage> {
    require_float("l2_normalize", x.dtype())?;
    let cols = *x.dims().last().unwrap_or(&1);
    let rows = x.elem_count().checked_div(cols).unwrap_or(0);
    let mut out = alloc(be, x.elem_count(), x.dtype())?;
    if rows == 0 {
        return Ok(out);
    }
    let c = fits_u32("l2_normalize", cols)?;
    let f = be
        .device()
        .function("l2_normalize", &entry("l2_normalize", x.dtype()))?;
    let xv = view("l2_normalize", x.storage(), x.layout().offset())?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&xv).arg(out.buf_mut()).arg(&c).arg(&eps);
    // SAFETY: arguments match `l2_normalize_<dtype>`; one block per row.
    launched(be, &f, unsafe {
        b.launch(grid_rows("l2_normalize", rows)?)
    })?;
    Ok(out)
}
