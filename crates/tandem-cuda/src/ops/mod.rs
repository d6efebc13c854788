//! Host side of each kernel, one op per file (`kernels/cuda/<op>.cu` beside it by name): shape
//! arithmetic, parameter structs laid out as the kernels declare them, grids and launches.

pub mod add_layer_norm;
pub mod attention;
pub mod binary;
pub mod cast;
pub mod copy;
pub mod fill;
pub mod index_select;
pub mod l2_normalize;
pub mod layer_norm;
pub mod matmul;
pub mod preprocess;
pub mod reduce;
pub mod softmax;
pub mod topk;
pub mod unary;

use crate::error::{CudaError, Result};
use crate::runtime::Kernel;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::{CudaView, DeviceRepr, LaunchConfig};
use tandem_tensor::DType;

/// Threads per block of the elementwise (grid-stride) kernels.
pub(crate) const BLOCK: u32 = 256;
/// Threads per block of the one-block-per-row kernels (norms, softmax, reductions, top-k).
pub(crate) const ROW_BLOCK: u32 = 256;

/// A grid-stride launch over `n` elements.
pub(crate) fn grid_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 1 << 20) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block per row.
pub(crate) fn grid_rows(op: &'static str, rows: usize) -> Result<LaunchConfig> {
    let rows = fits_u32(op, rows)?.max(1);
    Ok(LaunchConfig {
        grid_dim: (rows, 1, 1),
        block_dim: (ROW_BLOCK, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Checks that a count or index fits the kernels' 32-bit index arithmetic.
pub(crate) fn fits_u32(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| CudaError::Unsupported {
        op,
        message: format!("{n} elements exceed the 32-bit index range"),
    })
}

/// `Strides8` of `common.cuh`: a strided view of rank ≤ 8 for two operands.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Strides8 {
    pub rank: u32,
    pub dims: [u32; 8],
    pub a: [u32; 8],
    pub b: [u32; 8],
}

// SAFETY: plain `#[repr(C)]` integers, laid out exactly as the CUDA struct.
unsafe impl DeviceRepr for Strides8 {}

impl Strides8 {
    /// Merges what both operands walk contiguously, then packs (rank ≤ 8, values < 2³²).
    pub fn new(op: &'static str, dims: &[usize], a: &[usize], b: &[usize]) -> Result<Self> {
        let (d, s) = tandem_tensor::layout::merge_dims(dims, &[a.to_vec(), b.to_vec()]);
        if d.len() > 8 {
            return Err(CudaError::Unsupported {
                op,
                message: format!("rank {} exceeds 8 after merging dims", d.len()),
            });
        }
        let mut out = Strides8 {
            rank: d.len() as u32,
            ..Default::default()
        };
        for i in 0..d.len() {
            out.dims[i] = fits_u32(op, d[i])?;
            out.a[i] = fits_u32(op, s[0][i])?;
            out.b[i] = fits_u32(op, s[1][i])?;
        }
        Ok(out)
    }
}

/// Fresh output storage of `len` elements of `dtype`.
pub(crate) fn alloc(be: &CudaBackend, len: usize, dtype: DType) -> Result<CudaStorage> {
    let buf = be
        .device()
        .alloc(be.stream(), (len * dtype.size_in_bytes()).max(1))?;
    Ok(CudaStorage::new(buf, len, dtype, be.device().clone()))
}

/// A view of `storage` starting at element `offset`.
pub(crate) fn view<'a>(
    op: &'static str,
    storage: &'a CudaStorage,
    offset: usize,
) -> Result<CudaView<'a, u8>> {
    let start = offset * storage.dtype().size_in_bytes();
    storage
        .buf()
        .try_slice(start..)
        .ok_or_else(|| CudaError::Unsupported {
            op,
            message: format!("offset {offset} is past the end of its storage"),
        })
}

/// The `<op>_<dtype>` entry point name.
pub(crate) fn entry(op: &str, dtype: DType) -> String {
    format!("{op}_{}", dtype.as_str())
}

/// Maps a launch failure of `kernel` to our error and counts the launch.
pub(crate) fn launched<T>(
    be: &CudaBackend,
    kernel: &Kernel,
    r: std::result::Result<T, cudarc::driver::DriverError>,
) -> Result<()> {
    r.map_err(CudaError::driver(kernel.op))?;
    be.device().count_launch(kernel);
    Ok(())
}

pub(crate) fn require_float(op: &'static str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(CudaError::UnsupportedDType { op, dtype })
    }
}
