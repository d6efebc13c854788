//! Device storage of the CUDA backend: a pooled buffer that goes back to the pool on drop.

use crate::runtime::Device;
use cudarc::driver::CudaSlice;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use tandem_tensor::DType;

/// `len` elements of `dtype` at the start of a device buffer (of the buffer's size class).
pub struct CudaStorage {
    buf: ManuallyDrop<CudaSlice<u8>>,
    len: usize,
    dtype: DType,
    device: Arc<Device>,
}

impl CudaStorage {
    pub(crate) fn new(buf: CudaSlice<u8>, len: usize, dtype: DType, device: Arc<Device>) -> Self {
        CudaStorage {
            buf: ManuallyDrop::new(buf),
            len,
            dtype,
            device,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub(crate) fn buf(&self) -> &CudaSlice<u8> {
        &self.buf
    }

    pub(crate) fn buf_mut(&mut self) -> &mut CudaSlice<u8> {
        &mut self.buf
    }
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        // SAFETY: `buf` is taken exactly once, here, and never used afterwards.
        let buf = unsafe { ManuallyDrop::take(&mut self.buf) };
        self.device.release(buf);
    }
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaStorage[{} × {}]", self.len, self.dtype)
    }
}
