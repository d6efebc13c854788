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

/// One compiled variant of `matmul.cu`: its entry point, block tile and threads per block.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Variant {
    entry: String,
    tile: usize,
    threads: u32,
}

/// The kernel for a `batch × m × n` product on a GPU of `sms` multiprocessors.
///
/// Half types use the 128 × 128 tensor-core tile when both dims fill it and there are at least
/// as many such tiles as SMs: a bigger tile reuses each loaded element twice as often, but a
/// product of fewer tiles than SMs would leave most of the GPU idle (decoding's few rows, the
/// small products of the tiny test models), where the 64 × 64 tile gives 4× the blocks. f32 has
/// one (SIMT) variant.
fn variant(dtype: DType, batch: usize, m: usize, n: usize, sms: usize) -> Variant {
    let base = entry("matmul", dtype);
    if dtype == DType::F32 {
        return Variant {
            entry: base,
            tile: 64,
            threads: 256,
        };
    }
    let big_tiles = batch * m.div_ceil(128) * n.div_ceil(128);
    if m >= 128 && n >= 128 && big_tiles >= sms.max(1) {
        Variant {
            entry: format!("{base}_128x128"),
            tile: 128,
            threads: 256,
        }
    } else {
        Variant {
            entry: base,
            tile: 64,
            threads: 128,
        }
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
    let v = variant(dtype, batch, m, n, be.device().sm_count());
    let grid_y = fits_u32("matmul", m.div_ceil(v.tile))?;
    if grid_y > 65_535 || batch > 65_535 {
        return Err(CudaError::Unsupported {
            op: "matmul",
            message: format!("{m} rows × batch {batch} exceed the launch grid"),
        });
    }
    let cfg = LaunchConfig {
        grid_dim: (
            fits_u32("matmul", n.div_ceil(v.tile))?,
            grid_y,
            batch as u32,
        ),
        block_dim: (v.threads, 1, 1),
        shared_mem_bytes: 0,
    };
    let f = be.device().function("matmul", &v.entry)?;
    let null = 0u64;
    let mut l = be.stream().launch_builder(&f);
    l.arg(lhs.buf()).arg(rhs.buf());
    match bias {
        Some(bias) => l.arg(bias.buf()),
        None => l.arg(&null),
    };
    l.arg(out.buf_mut()).arg(&p);
    // SAFETY: arguments match every variant's `(lhs, rhs, bias, out, MatmulParams)`; every
    // addressed element was checked against its storage above.
    launched(be, &f, unsafe { l.launch(cfg) })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_tiles_only_when_they_fill_the_gpu() {
        // An H100/H200 has 132 SMs.
        let v = |m, n, batch| variant(DType::BF16, batch, m, n, 132).entry;
        // ViT-B/16 at batch 8: 8 × 197 rows… as one 1576 × 768 product = 13 × 6 = 78 tiles.
        assert_eq!(v(1576, 768, 1), "matmul_bf16");
        assert_eq!(v(4096, 4096, 1), "matmul_bf16_128x128");
        assert_eq!(v(512, 512, 9), "matmul_bf16_128x128");
        // Decoding: a handful of rows never takes the big tile.
        assert_eq!(v(5, 30_524, 1), "matmul_bf16");
        assert_eq!(v(4096, 64, 64), "matmul_bf16");
        assert_eq!(
            variant(DType::F16, 1, 2048, 2048, 132).entry,
            "matmul_f16_128x128"
        );
        assert_eq!(variant(DType::F32, 1, 4096, 4096, 132).entry, "matmul_f32");
        // One SM (the simulator): any product of at least one full tile.
        assert_eq!(variant(DType::BF16, 1, 128, 128, 1).tile, 128);
        assert_eq!(variant(DType::BF16, 1, 127, 4096, 1).tile, 64);
    }
}
