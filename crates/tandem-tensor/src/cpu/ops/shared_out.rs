//! [`SharedOut`]: an output buffer's base pointer handed to the rayon tasks of one GEMM call,
//! each of which writes its own disjoint rectangle of it (`gemm_bf16`, `matmul_panels`).

/// The base pointer of an output (of `f32`, or `T`) that several tasks write at once, each to
/// elements no other task touches. `Send + Sync` so closures on the rayon pool can hold it; reach the data
/// through [`SharedOut::at`] (a method, so closures capture this wrapper and not the bare
/// pointer field, which is neither).
pub(crate) struct SharedOut<T = f32>(*mut T);

impl<T> Clone for SharedOut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedOut<T> {}

// SAFETY: the pointer is only written through by tasks of one call that own disjoint elements,
// while the call keeps the buffer mutably borrowed (each user documents its split); the
// elements are plain numbers (`f32`, `bf16`), sent between threads by value.
unsafe impl<T: Send> Send for SharedOut<T> {}
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// Shares `out` for the duration of the caller's borrow of it.
    pub(crate) fn new(out: &mut [T]) -> Self {
        SharedOut(out.as_mut_ptr())
    }

    /// The element `offset` elements in.
    ///
    /// # Safety
    /// `offset` is at most the buffer's length, and what the caller writes through the result
    /// belongs to its task alone.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut T {
        self.0.add(offset)
    }
}
