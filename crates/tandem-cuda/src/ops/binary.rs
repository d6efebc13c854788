//! Elementwise functions of two inputs with broadcasting (`binary.cu`).

use super::{alloc, entry, fits_u32, grid_1d, launched, require_float, Strides8};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::{BinaryOp, Tensor};

fn op_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

/// `lhs` and `rhs` already have the output's dims (stride 0 on broadcast dims).
pub fn binary(
    be: &CudaBackend,
    op: BinaryOp,
    lhs: &Tensor<CudaBackend>,
    rhs: &Tensor<CudaBackend>,
) -> Result<CudaStorage> {
    require_float("binary", lhs.dtype())?;
    let n = lhs.elem_count();
    let mut out = alloc(be, n, lhs.dtype())?;
    if n == 0 {
        return Ok(out);
    }
    let s = Strides8::new(
        "binary",
        lhs.dims(),
        lhs.layout().strides(),
        rhs.layout().strides(),
    )?;
    let (n32, lo, ro) = (
        fits_u32("binary", n)?,
        fits_u32("binary", lhs.layout().offset())?,
        fits_u32("binary", rhs.layout().offset())?,
    );
    let code = op_code(op);
    let f = be
        .device()
        .function("binary", &entry("binary", lhs.dtype()))?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(lhs.storage().buf())
        .arg(rhs.storage().buf())
        .arg(out.buf_mut())
        .arg(&n32)
        .arg(&lo)
        .arg(&ro)
        .arg(&code)
        .arg(&s);
    // SAFETY: arguments match `binary_<dtype>`; the tensor layer checked both views are in range.
    launched(be, &f, unsafe { b.launch(grid_1d(n)) })?;
    Ok(out)
}
