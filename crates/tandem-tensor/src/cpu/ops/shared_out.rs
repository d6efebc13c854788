//! [`SharedOut`]: an output buffer's base pointer handed to the rayon tasks of one GEMM call,
//! each of which writes its own disjoint rectangle of it (`gemm_bf16`, `matmul_panels`).

/// The base pointer of an `f32` output that several tasks write at once, each to elements no
/// other task touches. `Send + Sync` so closures on the rayon pool can hold it; reach the data
/// through [`SharedOut::at`] (a method, so closures capture this wrapper and not the bare
/// pointer field, which is neither).
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(*mut f32);

// SAFETY: the pointer is only written through by tasks of one call that own disjoint elements,
// while the call keeps the buffer mutably borrowed (each user documents its split).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Shares `out` for the duration of the caller's borrow of it.
    pub(crate) fn new(out: &mut [f32]) -> Self {
        SharedOut(out.as_mut_ptr())
    }

    /// The element `offset` floats in.
    ///
    /// # Safety
    /// `offset` is at most the buffer's length, and what the caller writes through the result
    /// belongs to its task alone.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}
