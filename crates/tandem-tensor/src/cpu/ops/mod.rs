//! CPU kernels, one op per file. Floats are computed in f32 (half types convert on load/store).

pub mod activation;
pub mod attention;
pub mod cast;
pub mod concat;
pub mod copy;
pub mod elementwise;
pub mod gemm_bf16;
pub mod index_select;
pub mod layer_norm;
pub mod matmul;
pub mod matmul_panels;
pub(crate) mod matmul_skinny;
pub mod reduce;
mod shared_out;
pub mod softmax;
#[cfg(test)]
mod test_reference;
pub mod topk;

/// Below this many elements an op runs on the calling thread: rayon's fork/join costs more
/// than it saves on tiny tensors (decoder steps, biases).
pub(crate) const PAR_THRESHOLD: usize = 1 << 14;
