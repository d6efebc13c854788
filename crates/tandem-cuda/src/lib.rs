//! Tandem's CUDA backend: [`CudaBackend`] implements [`tandem_tensor::Backend`] on NVIDIA GPUs
//! with our own kernels (`kernels/cuda/<op>.cu`, one op per file, host side in
//! `src/ops/<op>.rs`), compiled at run time by NVRTC.
//!
//! ```no_run
//! use tandem_cuda::CudaBackend;
//! use tandem_tensor::{DType, Tensor};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpu = CudaBackend::new(0)?; // a clear error, not a panic, without a driver or GPU
//! let x = Tensor::from_slice(&gpu, &[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?.to_dtype(DType::BF16)?;
//! let y = x.matmul(&x)?.softmax(None, false)?; // tensor cores, then a warp-reduction softmax
//! println!("{:?}", y.to_vec_f32()?); // the only point where the host waits
//! # Ok(()) }
//! ```
//!
//! # Building and running without CUDA
//! cudarc is used in `dynamic-loading` mode: nothing CUDA is needed to build, and `libcuda`
//! (the driver) and `libnvrtc` are opened at run time. Both are checked before first use
//! ([`runtime::library`]), because cudarc panics on a missing library; the error says what to
//! install. NVRTC can come from a toolkit or from the `nvidia-cuda-nvrtc-cu12` wheel
//! ([`runtime::library::NVRTC_ENV`] names its file). The kernels include no CUDA header, so no
//! toolkit include folder is needed either.
//!
//! # Testing without a GPU
//! `cargo xtask cuda-sim` builds a stand-in `libcuda` that runs these kernels on the host (the
//! simulator in `sim/`); with it on `LD_LIBRARY_PATH` the device tests (`--ignored`) run
//! unchanged, and CI runs them so. See the crate README for what it checks and what it cannot.
//!
//! # Kernels (see the crate README for the table)
//! Tensor-core GEMM for bf16/f16 (`mma.sync.m16n8k16`, f32 accumulation, `cp.async` double
//! buffering, `ldmatrix` fragments, a 64×64 or 128×128 block tile by shape and SM count) and a
//! tiled f32 GEMM, both with the fused bias + activation epilogue and
//! strided/transposed/broadcast operands; flash attention (online softmax, no score matrix in
//! memory; on tensor cores for bf16/f16 prefill, FlashAttention-2's split) for self-attention
//! over a KV cache and cross-attention; layer norm, softmax (mask, causal, log), L2 norm and reductions
//! with warp-shuffle block reductions; argmax and top-k on the device; strided copy (also the
//! in-place write and concat), cast, gather, elementwise ops; Pillow-exact bicubic resize and
//! normalize from u8 ([`CudaBackend::resize_normalize`]). Requires compute capability 8.0+.
//!
//! # Runtime
//! - NVRTC compiles each kernel file once per (op, architecture), with every dtype's
//!   `<op>_<dtype>` entry point; CUBINs are cached on disk ([`runtime::compile`]).
//! - A size-class caching allocator ([`runtime::pool`]): steady-state inference allocates
//!   nothing ([`Stats::allocations`]); device memory is reported per process, with a peak that
//!   can be reset around one batch ([`MemoryReport`]).
//! - One stream per [`CudaBackend`]; [`Backend::fork`](tandem_tensor::Backend::fork) makes
//!   another on the same device for another model copy. cudarc's event tracking orders buffers
//!   shared between streams. The only host waits are read-backs and `synchronize`.
//! - Owned uploads go through pinned staging buffers, asynchronous to the host.

mod backend;
mod error;
mod ops;
pub mod runtime;
mod storage;

pub use backend::CudaBackend;
pub use error::CudaError;
pub use runtime::{Device, MemoryReport, Stats};
pub use storage::CudaStorage;
