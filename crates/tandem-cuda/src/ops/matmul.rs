//! Batched matmul with the fused bias + activation epilogue (`matmul.cu`): tensor cores for
//! bf16/f16 (f32 accumulation), CUDA cores for f32. Operands are addressed in place through
//! [`MatmulSpec`] (transposed weights and broadcast batches are never copied).

use super::unary::activation_code;
use super::{alloc, entry, fits_u32, launched, require_float};
use crate::error::{CudaError, Result};
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
use tandem_tensor::{Activation, DType, MatmulSpec, MatrixRef};

/// `MatmulParams` of `matmul.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    a_offset: u64,
    a_batch: u64,
    a_rs: u64,
    a_cs: u64,
    b_offset: u64,
    b_batch: u64,
    b_rs: u64,
    b_cs: u64,
}

// SAFETY: `#[repr(C)]` integers laid out exactly as the CUDA struct (4 × u32, then 8 × u64).
unsafe impl DeviceRepr for MatmulParams {}

/// Block tile of every variant (64 × 64), and threads per block.
const TILE: usize = 64;
fn threads(dtype: DType) -> u32 {
    if dtype == DType::F32 {
        256
    } else {
        128
    }
}

/// The largest element index `m` addresses for `rows × cols` matrices over `batch`.
fn extent(m: &MatrixRef, batch: usize, rows: usize, cols: usize) -> usize {
    if batch == 0 || rows == 0 || cols == 0 {
        return 0;
    }
    m.offset + (batch - 1) * m.batch_stride + (rows - 1) * m.row_stride + (cols - 1) * m.col_stride
}

pub fn matmul(
    be: &CudaBackend,
    lhs: &CudaStorage,
    rhs: &CudaStorage,
    dtype: DType,
    spec: &MatmulSpec,
    bias: Option<&CudaStorage>,
    activation: Option<Activation>,
) -> Result<CudaStorage> {
    require_float("matmul", dtype)?;
    let MatmulSpec {
        batch,
        m,
        n,
        k,
        lhs: a,
        rhs: b,
    } = *spec;
    let mut out = alloc(be, batch * m * n, dtype)?;
    if batch * m * n == 0 {
        return Ok(out);
    }
    for (name, mr, s, rows, cols) in [("lhs", &a, lhs, m, k), ("rhs", &b, rhs, k, n)] {
        if k > 0 && extent(mr, batch, rows, cols) >= s.len() {
            return Err(CudaError::Unsupported {
                op: "matmul",
                message: format!("{name} addresses past the end of its storage"),
            });
        }
    }
    if let Some(bias) = bias {
        if bias.len() < n {
            return Err(CudaError::Unsupported {
                op: "matmul",
                message: format!("bias of {} for {n} columns", bias.len()),
            });
        }
    }
    let p = MatmulParams {
        m: fits_u32("matmul", m)?,
        n: fits_u32("matmul", n)?,
        k: fits_u32("matmul", k)?,
        act: activation_code(activation),
        a_offset: a.offset as u64,
        a_batch: a.batch_stride as u64,
        a_rs: a.row_stride as u64,
        a_cs: a.col_stride as u64,
        b_offset: b.offset as u64,
        b_batch: b.batch_stride as u64,
        b_rs: b.row_stride as u64,
        b_cs: b.col_stride as u64,
    };
    let grid_y = fits_u32("matmul", m.div_ceil(TILE))?;
    if grid_y > 65_535 || batch > 65_535 {
        return Err(CudaError::Unsupported {
            op: "matmul",
            message: format!("{m} rows × batch {batch} exceed the launch grid"),
        });
    }
    let cfg = LaunchConfig {
        grid_dim: (fits_u32("matmul", n.div_ceil(TILE))?, grid_y, batch as u32),
        block_dim: (threads(dtype), 1, 1),
        shared_mem_bytes: 0,
    };
    let f = be.device().function("matmul", &entry("matmul", dtype))?;
    let null = 0u64;
    let mut l = be.stream().launch_builder(&f);
    l.arg(lhs.buf()).arg(rhs.buf());
    match bias {
        Some(bias) => l.arg(bias.buf()),
        None => l.arg(&null),
    };
    l.arg(out.buf_mut()).arg(&p);
    // SAFETY: arguments match `matmul_<dtype>(lhs, rhs, bias, out, MatmulParams)`; every
    // addressed element was checked against its storage above.
    launched(be, "matmul", unsafe { l.launch(cfg) })?;
    Ok(out)
}
