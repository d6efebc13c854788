//! Helpers shared by the CUDA variant tests: seeded data and uploads in a dtype.

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
