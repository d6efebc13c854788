//! The conformance suite every `tandem-tensor` backend must pass.
//!
//! Four parts, usable on their own:
//! - [`close`]: the workspace's one float comparison for tests (NaN-proof, shape first, names
//!   the worst element; tolerances derived from the dtype's unit roundoff).
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
//! `TANDEM_CONFORMANCE_SEED` (pin the otherwise random per-run seed to replay a run: the seed is
//! printed on every run and in every failure). A fallible backend that finds no device fails
//! with the fix named; a test that cannot run never passes as `ok`.

pub mod close;
pub mod input;
pub mod problems;
pub mod reference;
pub mod runner;
mod suite;
pub mod tolerance;

pub use close::{
    assert_close, assert_close_slices, assert_row_sums, assert_tensor_close, check_close,
    check_row_sums, fixture_drift, half_precision_parity, Close, Report,
};
pub use input::{Dist, Input, ViewSpec};
pub use runner::{acquire, run_problem, DeviceSource, DEFAULT_CASES};
pub use tolerance::{compare, Tolerance};

#[doc(hidden)]
pub use tandem_tensor as __tensor;
