//! Softmax and log-softmax over the last dim with an additive mask and a causal mask
//! (`softmax.cu`).

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::Tensor;

/// `x` contiguous; `mask` already broadcast to `x`'s dims (materialised contiguously here when
/// it is a broadcast view).
pub fn softmax(
    be: &CudaBackend,
    x: &Tensor<CudaBackend>,
    mask: Option<&Tensor<CudaBackend>>,
    causal: bool,
    log: bool,
) -> tandem_tensor::Result<CudaStorage> {
    require_float("softmax", x.dtype())?;
    let cols = *x.dims().last().unwrap_or(&1);
    let rows = x.elem_count().checked_div(cols).unwrap_or(0);
    let q_len = if x.rank() >= 2 {
        x.dims()[x.rank() - 2]
    } else {
        1
    };
    let mut out = alloc(be, x.elem_count(), x.dtype())?;
    if rows == 0 {
        return Ok(out);
    }
    let mask = match mask {
        Some(m) => Some(m.contiguous()?),
        None => None,
    };
    let (c, q) = (
        fits_u32("softmax", cols)?,
        fits_u32("softmax", q_len.max(1))?,
    );
    let (causal, log) = (causal as u32, log as u32);
    let f = be
        .device()
        .function("softmax", &entry("softmax", x.dtype()))?;
    let input = view("softmax", x.storage(), x.layout().offset())?;
    let mask_view = match &mask {
        Some(m) => Some(view("softmax", m.storage(), m.layout().offset())?),
        None => None,
    };
    let null = 0u64;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&input);
    match &mask_view {
        Some(m) => b.arg(m),
        None => b.arg(&null),
    };
    b.arg(out.buf_mut()).arg(&c).arg(&q).arg(&causal).arg(&log);
    // SAFETY: arguments match `softmax_<dtype>`; one block per row of `cols` elements.
    launched(be, &f, unsafe { b.launch(grid_rows("softmax", rows)?) })?;
    Ok(out)
}
