//! One module per op; each registers its cases under `<prefix>/<op>/<shape>`.
//!
//! Every function is generic over [`Backend`] and takes the backend's name prefix, so a new
//! backend is benchmarked by calling [`bench_all`] (or the per-op functions) with its handle.

pub mod attention;
pub mod binary;
pub mod embedding;
pub mod gelu;
pub mod layer_norm;
pub mod linear;
pub mod matmul;
pub mod normalize;
pub mod patch_embed;
pub mod softmax;
pub mod topk;

use criterion::Criterion;
use tandem_tensor::Backend;

pub use attention::bench_attention;
pub use binary::bench_binary;
pub use embedding::bench_embedding;
pub use gelu::bench_gelu;
pub use layer_norm::bench_layer_norm;
pub use linear::bench_linear;
pub use matmul::bench_matmul;
pub use normalize::bench_l2_normalize;
pub use patch_embed::bench_patch_embed;
pub use softmax::bench_softmax;
pub use topk::bench_topk;

/// Registers every op's benchmarks for `backend` under `prefix` (e.g. `cpu`, `wgpu`, `cuda`).
pub fn bench_all<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    bench_matmul(c, backend, prefix);
    bench_linear(c, backend, prefix);
    bench_attention(c, backend, prefix);
    bench_softmax(c, backend, prefix);
    bench_layer_norm(c, backend, prefix);
    bench_gelu(c, backend, prefix);
    bench_binary(c, backend, prefix);
    bench_embedding(c, backend, prefix);
    bench_topk(c, backend, prefix);
    bench_patch_embed(c, backend, prefix);
    bench_l2_normalize(c, backend, prefix);
}

/// Bytes of `elems` f32 values (the benchmarks run in f32, the models' compute dtype on CPU).
pub(crate) fn f32_bytes(elems: usize) -> u64 {
    (elems * std::mem::size_of::<f32>()) as u64
}
