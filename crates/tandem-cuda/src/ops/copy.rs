//! Strided copies (`copy.cu`): `contiguous()`, the in-place write (`Backend::copy_into`) and the
//! pieces of concat. One kernel: element i of `dims` goes from `src_offset + Σ idx·src_strides`
//! to `dst_offset + Σ idx·dst_strides`; a plain contiguous run is a `cuMemcpyDtoDAsync` instead.

use super::{alloc, entry, fits_u32, grid_1d, launched, Strides8};
use crate::error::{CudaError, Result};
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;

/// Records the copy of the `dims` elements of `src` (strides/offset in elements) into `dst`.
#[allow(clippy::too_many_arguments)]
pub fn copy_into(
    be: &CudaBackend,
    src: &CudaStorage,
    dims: &[usize],
    src_strides: &[usize],
    src_offset: usize,
    dst: &mut CudaStorage,
    dst_strides: &[usize],
    dst_offset: usize,
) -> Result<()> {
    let n: usize = dims.iter().product();
    if n == 0 {
        return Ok(());
    }
    if src.dtype() != dst.dtype() {
        return Err(CudaError::Unsupported {
            op: "copy",
            message: format!("{} into {}", src.dtype(), dst.dtype()),
        });
    }
    let s = Strides8::new("copy", dims, src_strides, dst_strides)?;
    let size = src.dtype().size_in_bytes();
    if s.rank == 1 && s.a[0] == 1 && s.b[0] == 1 {
        let (from, to) = (src_offset * size, dst_offset * size);
        let src_view =
            src.buf()
                .try_slice(from..from + n * size)
                .ok_or_else(|| CudaError::Unsupported {
                    op: "copy",
                    message: "source range past its storage".into(),
                })?;
        let mut dst_view = dst
            .buf_mut()
            .try_slice_mut(to..to + n * size)
            .ok_or_else(|| CudaError::Unsupported {
                op: "copy",
                message: "destination range past its storage".into(),
            })?;
        be.stream()
            .memcpy_dtod(&src_view, &mut dst_view)
            .map_err(CudaError::driver("device copy"))?;
        return Ok(());
    }
    let f = be.device().function("copy", &entry("copy", src.dtype()))?;
    let (n32, so, doff) = (
        fits_u32("copy", n)?,
        fits_u32("copy", src_offset)?,
        fits_u32("copy", dst_offset)?,
    );
    let mut b = be.stream().launch_builder(&f);
    b.arg(src.buf())
        .arg(dst.buf_mut())
        .arg(&n32)
        .arg(&so)
        .arg(&doff)
        .arg(&s);
    // SAFETY: arguments match `copy_<dtype>`; the host checked every addressed element is in range.
    launched(be, &f, unsafe { b.launch(grid_1d(n)) })
}

/// A contiguous copy of the strided view (`dims`, `strides`, `offset`) of `src`.
pub fn copy_strided(
    be: &CudaBackend,
    src: &CudaStorage,
    dims: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<CudaStorage> {
    let n: usize = dims.iter().product();
    let mut out = alloc(be, n, src.dtype())?;
    let dst_strides = tandem_tensor::layout::contiguous_strides(dims);
    copy_into(be, src, dims, strides, offset, &mut out, &dst_strides, 0)?;
    Ok(out)
}
