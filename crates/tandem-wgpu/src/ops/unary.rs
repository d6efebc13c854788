//! Elementwise functions of one float tensor (and the activation codes shared with matmul).

use super::{alloc, bytes, fits_u32, grid_1d};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;
use tandem_tensor::{Activation, UnaryOp};

const SRC: &str = tandem_kernels::wgsl::UNARY;

/// The op code `apply_unary` in common.wgsl switches on.
pub fn code(op: UnaryOp) -> u32 {
    match op {
        UnaryOp::Gelu => 1,
        UnaryOp::GeluTanh => 2,
        UnaryOp::QuickGelu => 3,
        UnaryOp::Relu => 4,
        UnaryOp::Silu => 5,
        UnaryOp::Tanh => 6,
        UnaryOp::Affine { .. } => 7,
        UnaryOp::Neg => 8,
        UnaryOp::Exp => 9,
        UnaryOp::Log => 10,
        UnaryOp::Sqrt => 11,
        UnaryOp::Rsqrt => 12,
        UnaryOp::Recip => 13,
        UnaryOp::Abs => 14,
        UnaryOp::Square => 15,
        UnaryOp::Sigmoid => 16,
    }
}

pub fn activation_code(act: Option<Activation>) -> u32 {
    act.map_or(0, |a| code(a.as_unary()))
}

pub fn unary(
    ctx: &Arc<Context>,
    op: UnaryOp,
    src: &WgpuStorage,
    offset: usize,
    len: usize,
) -> Result<WgpuStorage> {
    let out = alloc(ctx, "unary", len, src.repr())?;
    let (mul, add) = match op {
        UnaryOp::Affine { mul, add } => (mul, add),
        _ => (1.0, 0.0),
    };
    let params = [
        fits_u32("unary", len)?,
        fits_u32("unary", offset)?,
        mul.to_bits(),
        add.to_bits(),
    ];
    let constants = [("OP", code(op) as f64)];
    let spec = KernelSpec {
        name: "unary",
        entry: "unary",
        source: SRC,
        types: &[("T", src.repr())],
        flags: &[],
        constants: &constants,
        inputs: 1,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[src.buffer(), out.buffer()],
        grid_1d(ctx, len),
    )?;
    Ok(out)
}
