//! Elementwise ops of two float tensors with numpy broadcasting (stride-0 dims read in place).

use super::{alloc, bytes, fits_u32, grid_1d, merge_dims, pack8};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::{BinaryOp, Tensor};

const SRC: &str = tandem_kernels::wgsl::BINARY;

fn code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

/// `lhs` and `rhs` already have the output's dims (broadcast dims with stride 0).
pub fn binary(
    be: &WgpuBackend,
    op: BinaryOp,
    lhs: &Tensor<WgpuBackend>,
    rhs: &Tensor<WgpuBackend>,
) -> Result<WgpuStorage> {
    let ctx = be.ctx();
    let dims = lhs.dims();
    let n: usize = dims.iter().product();
    let repr = lhs.storage().repr();
    let out = alloc(ctx, "binary", n, repr)?;
    let (d, s) = merge_dims(
        dims,
        &[
            lhs.layout().strides().to_vec(),
            rhs.layout().strides().to_vec(),
        ],
    );
    let contiguous = d.len() == 1 && s[0][0] == 1 && s[1][0] == 1;
    let mut params = vec![
        fits_u32("binary", n)?,
        fits_u32("binary", lhs.layout().offset())?,
        fits_u32("binary", rhs.layout().offset())?,
        d.len() as u32,
    ];
    params.extend(pack8("binary", &d)?);
    params.extend(pack8("binary", &s[0])?);
    params.extend(pack8("binary", &s[1])?);
    let constants = [("OP", code(op) as f64)];
    let flags: &[&str] = if contiguous { &["CONTIGUOUS"] } else { &[] };
    let spec = KernelSpec {
        name: "binary",
        entry: "binary",
        source: SRC,
        types: &[("T", repr)],
        flags,
        constants: &constants,
        inputs: 2,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[lhs.storage().buffer(), rhs.storage().buffer(), out.buffer()],
        grid_1d(ctx, n),
    )?;
    Ok(out)
}
