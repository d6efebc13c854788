//! Reductions over the last dim (`reduce.cu`): sum/max/min in the input dtype, argmax/argmin
//! as u32 (read back by greedy decoding instead of a whole row of logits).

use super::{alloc, entry, fits_u32, grid_rows, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::{DType, ReduceOp};

pub fn reduce_last(
    be: &CudaBackend,
    op: ReduceOp,
    src: &CudaStorage,
    offset: usize,
    rows: usize,
    cols: usize,
) -> Result<CudaStorage> {
    require_float("reduce", src.dtype())?;
    let (kernel, code, out_dtype) = match op {
        ReduceOp::Sum => ("reduce", 0u32, src.dtype()),
        ReduceOp::Max => ("reduce", 1, src.dtype()),
        ReduceOp::Min => ("reduce", 2, src.dtype()),
        ReduceOp::ArgMax => ("reduce_arg", 0, DType::U32),
        ReduceOp::ArgMin => ("reduce_arg", 1, DType::U32),
    };
    let mut out = alloc(be, rows, out_dtype)?;
    if rows == 0 {
        return Ok(out);
    }
    let c = fits_u32("reduce", cols)?;
    let f = be
        .device()
        .function("reduce", &entry(kernel, src.dtype()))?;
    let input = view("reduce", src, offset)?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&input).arg(out.buf_mut()).arg(&c).arg(&code);
    // SAFETY: arguments match `reduce[_arg]_<dtype>(const T*, out*, u32 cols, u32 op)`; one block per row.
    launched(be, &f, unsafe { b.launch(grid_rows("reduce", rows)?) })?;
    Ok(out)
}
