//! Elementwise functions of one input (`unary.cu`), and the activation codes shared with the
//! fused matmul epilogue (`ACT_*` in `common.cuh`).

use super::{alloc, entry, fits_u32, grid_1d, launched, require_float, view};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::{Activation, UnaryOp};

/// `OP_*` code of `unary.cu`, and the affine coefficients.
fn op_code(op: UnaryOp) -> (u32, f32, f32) {
    match op {
        UnaryOp::Affine { mul, add } => (0, mul, add),
        UnaryOp::Neg => (1, 0.0, 0.0),
        UnaryOp::Exp => (2, 0.0, 0.0),
        UnaryOp::Log => (3, 0.0, 0.0),
        UnaryOp::Sqrt => (4, 0.0, 0.0),
        UnaryOp::Rsqrt => (5, 0.0, 0.0),
        UnaryOp::Recip => (6, 0.0, 0.0),
        UnaryOp::Abs => (7, 0.0, 0.0),
        UnaryOp::Square => (8, 0.0, 0.0),
        UnaryOp::Tanh => (9, 0.0, 0.0),
        UnaryOp::Sigmoid => (10, 0.0, 0.0),
        UnaryOp::Relu => (11, 0.0, 0.0),
        UnaryOp::Silu => (12, 0.0, 0.0),
        UnaryOp::Gelu => (13, 0.0, 0.0),
        UnaryOp::GeluTanh => (14, 0.0, 0.0),
        UnaryOp::QuickGelu => (15, 0.0, 0.0),
    }
}

/// `ACT_*` code of `common.cuh` (0: none).
pub fn activation_code(act: Option<Activation>) -> u32 {
    match act {
        None => 0,
        Some(Activation::Gelu) => 1,
        Some(Activation::GeluTanh) => 2,
        Some(Activation::QuickGelu) => 3,
        Some(Activation::Relu) => 4,
        Some(Activation::Silu) => 5,
        Some(Activation::Tanh) => 6,
    }
}

pub fn unary(
    be: &CudaBackend,
    op: UnaryOp,
    src: &CudaStorage,
    offset: usize,
    len: usize,
) -> Result<CudaStorage> {
    require_float("unary", src.dtype())?;
    let mut out = alloc(be, len, src.dtype())?;
    if len == 0 {
        return Ok(out);
    }
    let (code, mul, add) = op_code(op);
    let n = fits_u32("unary", len)?;
    let f = be
        .device()
        .function("unary", &entry("unary", src.dtype()))?;
    let input = view("unary", src, offset)?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(&input)
        .arg(out.buf_mut())
        .arg(&n)
        .arg(&code)
        .arg(&mul)
        .arg(&add);
    // SAFETY: arguments match `unary_<dtype>(const T*, T*, u32 n, u32 op, float mul, float add)`.
    launched(be, &f, unsafe { b.launch(grid_1d(len)) })?;
    Ok(out)
}
