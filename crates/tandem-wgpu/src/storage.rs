//! Device storage of the wgpu backend: a pooled buffer that goes back to the pool on drop.

use crate::runtime::kernel::Repr;
use crate::runtime::Context;
use std::sync::Arc;

/// `len` elements held as `repr` (see the crate docs for how each dtype is held).
pub struct WgpuStorage {
    buffer: Option<wgpu::Buffer>,
    len: usize,
    repr: Repr,
    ctx: Arc<Context>,
}

impl WgpuStorage {
    pub(crate) fn new(buffer: wgpu::Buffer, len: usize, repr: Repr, ctx: Arc<Context>) -> Self {
        WgpuStorage {
            buffer: Some(buffer),
            len,
            repr,
            ctx,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn repr(&self) -> Repr {
        self.repr
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        // Only `Drop` takes the buffer out.
        self.buffer.as_ref().unwrap_or(&self.ctx.dummy)
    }
}

impl Drop for WgpuStorage {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.ctx.release(b);
        }
    }
}

impl std::fmt::Debug for WgpuStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WgpuStorage[{} × {:?}]", self.len, self.repr)
    }
}
