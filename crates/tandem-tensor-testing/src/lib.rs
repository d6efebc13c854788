//! The conformance suite every `tandem-tensor` backend must pass.
//!
//! Three parts, usable on their own:
//! - [`reference`]: a naive pure-Rust implementation of every op (plain loops in `f64` over
//!   host vectors with explicit shapes). It shares no code path with the CPU backend, so the CPU
//!   backend is checked too, not just trusted.
//! - [`problems`]: `proptest` strategies that generate one problem per op (random shapes with
//!   odd and size-1 dims, strided / permuted / narrowed / broadcast inputs, long reductions,
//!   every matmul transpose, attention with KV-cache shapes, ties for arg-reductions, error
//!   paths) and a `check` that runs it on a backend and compares with the reference.
//! - [`conformance_suite!`]: one line in a backend crate's integration test expands to one
//!   `#[test]` per op:
//!
//! ```ignore
//! tandem_tensor_testing::conformance_suite!(tandem_tensor::CpuBackend);
//! // A backend whose constructor may fail (no adapter): `fallible:` takes an Option or Result.
//! tandem_tensor_testing::conformance_suite!(fallible: my_wgpu::WgpuBackend::new(), cases: 32);
//! ```
//!
//! Environment: `TANDEM_CONFORMANCE_CASES` (cases per op, overrides the macro's default),
//! `TANDEM_CONFORMANCE_SEED` (replay a run: the seed is printed on every failure) and
//! `TANDEM_ALLOW_MISSING_DEVICE=1` (skip, loudly, when a fallible backend finds no device).

pub mod input;
pub mod problems;
pub mod reference;
pub mod runner;
mod suite;
pub mod tolerance;

pub use input::{Dist, Input, ViewSpec};
pub use runner::{acquire, run_problem, DeviceSource, DEFAULT_CASES};
pub use tolerance::{compare, Tolerance};

#[doc(hidden)]
pub use tandem_tensor as __tensor;
