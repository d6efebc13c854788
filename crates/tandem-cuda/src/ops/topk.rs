//! Top-k over the last dim on the device (`topk.cu`), so beam search and top-k sampling read
//! back k candidates per row instead of the whole vocabulary.

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::DType;

pub fn topk_last(
    be: &CudaBackend,
    src: &CudaStorage,
    offset: usize,
    rows: usize,
    cols: usize,
    k: usize,
) -> Result<(CudaStorage, CudaStorage)> {
    require_float("topk", src.dtype())?;
    let mut values = alloc(be, rows * k, src.dtype())?;
    let mut indices = alloc(be, rows * k, DType::U32)?;
    if rows == 0 || k == 0 {
        return Ok((values, indices));
    }
    let (c, k32) = (fits_u32("topk", cols)?, fits_u32("topk", k)?);
    fits_u32("topk", rows * k)?;
    let f = be.device().function("topk", &entry("topk", src.dtype()))?;
    let input = view("topk", src, offset)?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&input)
        .arg(values.buf_mut())
        .arg(indices.buf_mut())
        .arg(&c)
        .arg(&k32);
    // SAFETY: arguments match `topk_<dtype>`; one block per row, k ≤ cols checked by the tensor layer.
    launched(be, &f, unsafe { b.launch(grid_rows("topk", rows)?) })?;
    Ok((values, indices))
}
