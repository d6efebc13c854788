//! Helpers shared by the CUDA variant tests: seeded data, uploads in a dtype, and the check that
//! every kernel a test means to reach was launched.

use tandem_cuda::CudaBackend;
use tandem_tensor::{Backend, DType, Tensor};
use tandem_tensor_testing::input::gen_data;
use tandem_tensor_testing::Dist;

/// Deterministic values in [-1, 1), the same on every backend.
pub fn values(seed: u64, n: usize) -> Vec<f32> {
    gen_data(seed, n, Dist::Uniform(-1.0, 1.0))
}

/// `data` as a `dims` tensor of `dtype` on `be`; a failure panics naming the dims.
pub fn upload<B: Backend>(be: &B, data: &[f32], dims: &[usize], dtype: DType) -> Tensor<B> {
    Tensor::from_slice(be, data, dims)
        .and_then(|t| t.to_dtype(dtype))
        .unwrap_or_else(|e| panic!("upload {dims:?}: {e}"))
}

/// Runs `body`, then asserts that each entry point in `entries` was launched on `gpu` during it
/// (the device counts launches per entry), so a dispatch change cannot quietly leave a kernel
/// variant untested.
pub fn assert_each_launched(gpu: &CudaBackend, entries: &[String], body: impl FnOnce()) {
    let before: Vec<u64> = entries
        .iter()
        .map(|e| gpu.device().launches_of(e))
        .collect();
    body();
    for (e, b) in entries.iter().zip(before) {
        let n = gpu.device().launches_of(e) - b;
        assert!(n > 0, "{e} never ran: the cases no longer reach it");
        eprintln!("{e}: {n} launches");
    }
}
