//! Dtype conversion (`cast.cu`, entry points `cast_<from>_<to>`).

use super::{alloc, fits_u32, grid_1d, launched, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::DType;

/// Converts `len` contiguous elements from element `offset` of `src` to `to`.
pub fn cast(
    be: &CudaBackend,
    src: &CudaStorage,
    offset: usize,
    len: usize,
    to: DType,
) -> Result<CudaStorage> {
    let mut out = alloc(be, len, to)?;
    if len == 0 {
        return Ok(out);
    }
    let n = fits_u32("cast", len)?;
    let f = be.device().function(
        "cast",
        &format!("cast_{}_{}", src.dtype().as_str(), to.as_str()),
    )?;
    let input = view("cast", src, offset)?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&input).arg(out.buf_mut()).arg(&n);
    // SAFETY: arguments match `cast_<from>_<to>(const A*, B*, u32 n)`; both hold `n` elements.
    launched(be, &f, unsafe { b.launch(grid_1d(len)) })?;
    Ok(out)
}
