//! `full`: a buffer of one repeated value (`fill.cu`).

use super::{alloc, entry, fits_u32, grid_1d, launched};
use crate::error::Result;
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::PushKernelArg;
use tandem_tensor::DType;

pub fn full(be: &CudaBackend, value: f64, len: usize, dtype: DType) -> Result<CudaStorage> {
    let mut out = alloc(be, len, dtype)?;
    if len == 0 {
        return Ok(out);
    }
    let n = fits_u32("full", len)?;
    let f = be.device().function("fill", &entry("fill", dtype))?;
    let mut b = be.stream().launch_builder(&f);
    b.arg(out.buf_mut());
    // The value as the dtype's bits (f16/bf16 as u16: the kernel's structs are 2-byte patterns).
    let (v32, vf, v16, v64): (u32, f32, u16, i64) = (value as u32, value as f32, 0, value as i64);
    let v16 = match dtype {
        DType::F16 => tandem_tensor::f16_from_f64(value).to_bits(),
        DType::BF16 => tandem_tensor::bf16_from_f64(value).to_bits(),
        _ => v16,
    };
    match dtype {
        DType::F32 => b.arg(&vf),
        DType::F16 | DType::BF16 => b.arg(&v16),
        DType::U32 => b.arg(&v32),
        DType::I64 => b.arg(&v64),
    };
    b.arg(&n);
    // SAFETY: arguments match `fill_<dtype>(T* out, T value, u32 n)`; `out` holds `n` elements.
    launched(be, &f, unsafe { b.launch(grid_1d(len)) })?;
    Ok(out)
}
