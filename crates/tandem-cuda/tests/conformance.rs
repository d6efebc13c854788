//! The whole backend conformance suite on the CUDA backend. CI machines have no GPU, so every
//! test is `#[ignore]`d with the reason: `cargo test` lists them as ignored (never a silent
//! pass), and `cargo test -p tandem-cuda -- --ignored` (scripts/gpu-check.sh) runs them where a
//! GPU exists; there, a missing driver or device fails each test with the fix named.

use tandem_cuda::CudaBackend;

tandem_tensor_testing::conformance_suite!(
    ignore: "needs an NVIDIA GPU and driver: run `cargo test -p tandem-cuda -- --ignored` (scripts/gpu-check.sh) on one",
    fallible: CudaBackend::new(0),
    cases: 64,
);
