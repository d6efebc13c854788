//! The backend conformance suite on the CPU backend: one `#[test]` per op.
//! Cases per op: `TANDEM_CONFORMANCE_CASES` (default 256); replay with `TANDEM_CONFORMANCE_SEED`.

tandem_tensor_testing::conformance_suite!(tandem_tensor::CpuBackend);
