//! Tensor-level ops: validate shapes and dtypes, arrange layouts, then call the backend.
//!
//! Validation lives here, once, so every backend sees only well-formed requests.

mod elementwise;
mod index;
mod matmul;
mod nn;
mod reduce;

pub use nn::attention;
pub(crate) use nn::causal_mask;
