//! Gather along a dim by an index tensor (`index_select.cu`): embeddings, KV-cache row
//! selection for beams.

use super::{alloc, entry, fits_u32, grid_1d, launched, view};
use crate::error::{CudaError, Result};
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::{DType, Tensor};

/// `src` contiguous; `ids` contiguous 1-D `U32`/`I64`, values checked in range by the caller.
pub fn index_select(
    be: &CudaBackend,
    src: &Tensor<CudaBackend>,
    dim: usize,
    ids: &Tensor<CudaBackend>,
) -> Result<CudaStorage> {
    let dims = src.dims();
    let outer: usize = dims[..dim].iter().product();
    let inner: usize = dims[dim + 1..].iter().product();
    let n_ids = ids.elem_count();
    let total = outer * n_ids * inner;
    let mut out = alloc(be, total, src.dtype())?;
    if total == 0 {
        return Ok(out);
    }
    let ids_i64 = match ids.dtype() {
        DType::U32 => 0u32,
        DType::I64 => 1,
        other => {
            return Err(CudaError::UnsupportedDType {
                op: "index_select indices",
                dtype: other,
            })
        }
    };
    fits_u32("index_select", total)?;
    let (o, d, i, n, io) = (
        fits_u32("index_select", outer)?,
        fits_u32("index_select", dims[dim])?,
        fits_u32("index_select", inner)?,
        fits_u32("index_select", n_ids)?,
        fits_u32("index_select", ids.layout().offset())?,
    );
    let f = be
        .device()
        .function("index_select", &entry("index_select", src.dtype()))?;
    let sv = view("index_select", src.storage(), src.layout().offset())?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&sv)
        .arg(ids.storage().buf())
        .arg(out.buf_mut())
        .arg(&o)
        .arg(&d)
        .arg(&i)
        .arg(&n)
        .arg(&io)
        .arg(&ids_i64);
    // SAFETY: arguments match `index_select_<dtype>`; indices were range-checked on the host.
    launched(be, &f, unsafe { b.launch(grid_1d(total)) })?;
    Ok(out)
}
