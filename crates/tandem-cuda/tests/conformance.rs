//! The whole backend conformance suite on the CUDA backend. It needs a CUDA driver, so every
//! test is `#[ignore]`d with the reason: a plain `cargo test` lists them as ignored (never a
//! silent pass), and `cargo test -p tandem-cuda -- --ignored` runs them on a GPU
//! (scripts/gpu-check.sh) or on the CUDA simulator (`LD_LIBRARY_PATH=$(cargo xtask cuda-sim)`),
//! which is how CI runs them; without either, a missing driver fails each test with the fix named.

use tandem_cuda::CudaBackend;

tandem_tensor_testing::conformance_suite!(
    ignore: "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does",
    fallible: CudaBackend::new(0),
    cases: 64,
);
