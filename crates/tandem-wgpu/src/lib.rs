//! Tandem's GPU backend: [`WgpuBackend`] implements [`tandem_tensor::Backend`] on wgpu
//! (Vulkan, Metal, DX12) with hand-written WGSL kernels from `kernels/wgsl/<op>.wgsl`, one op per
//! file, each with its host side in `src/ops/<op>.rs`.
//!
//! ```no_run
//! use tandem_tensor::Tensor;
//! use tandem_wgpu::WgpuBackend;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpu = WgpuBackend::new()?; // best adapter, or TANDEM_WGPU_ADAPTER=<substring>
//! let x = Tensor::from_slice(&gpu, &[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let y = x.matmul(&x)?.softmax(None, false)?;
//! println!("{:?}", y.to_vec::<f32>()?); // the only point where the host waits
//! # Ok(()) }
//! ```
//!
//! # Kernels
//! Tiled matmul (64×64 tiles in workgroup memory, 4×4 register blocks, vec4 loads, strided and
//! transposed operands, fused bias + activation epilogue); one-workgroup-per-row reductions for
//! softmax (mask + causal, log-softmax), layer norm, L2 normalisation, reduce/arg-reduce and top-k;
//! a fused flash-style attention with an online softmax (no score matrix in memory); strided
//! copy (also concat), cast, gather, elementwise unary/binary with broadcasting. Naive matmul and
//! attention kernels exist only as the benches' baselines.
//!
//! # Dtypes
//! Kernels compute in f32 and round each result to the storage dtype, matching the CPU
//! reference. How each dtype is held on the device:
//! - `f32`, `u32`: as is; `i64`: little-endian `vec2<u32>` pairs.
//! - `f16`: native `f16` buffers when the adapter exposes `shader-f16` (lavapipe does);
//!   otherwise widened to f32 on upload, rounded to f16 precision by every kernel store, and
//!   narrowed on download (exact, since every stored value is already an f16 value).
//! - `bf16`: always held widened to f32 (WGSL has no bf16 type): widening on upload is exact,
//!   every kernel store rounds to bf16 (nearest even), downloads narrow exactly. This costs 2×
//!   memory for bf16 weights in exchange for one kernel per op; an unpack-from-u32 path is a
//!   possible later optimisation.
//!
//! # Runtime
//! - Pipelines are compiled once per (op, dtype, specialisation) and cached; kernels are
//!   specialised by WGSL override constants (activation, transpose flags) and by a small
//!   preprocessor (`//#if FLAG`) for choices that change binding types (vec4 vs scalar); its
//!   `//#include <name>` pastes helpers written once (the workgroup reductions).
//! - Device buffers come from a size-class pool and return to it when a tensor's storage is
//!   dropped, so a steady-state forward creates no buffers ([`Stats::buffers_created`]).
//! - Ops record into one shared command encoder that is submitted only at a sync point
//!   (`to_vec`/`read_bytes`, `synchronize`) or every [`runtime::MAX_DISPATCHES`] dispatches, so a
//!   model forward is a handful of submissions ([`Stats::submissions`]).
//! - Adapter: the best available (discrete > integrated > virtual > CPU), or the one named by
//!   `TANDEM_WGPU_ADAPTER`. No adapter is an error naming the fix
//!   (`apt-get install mesa-vulkan-drivers libvulkan1`), never a panic.

mod backend;
mod error;
mod ops;
pub mod runtime;
mod storage;

pub use backend::WgpuBackend;
pub use error::WgpuError;
pub use runtime::adapter::ADAPTER_ENV;
pub use runtime::Stats;
pub use storage::WgpuStorage;
pub use wgpu;
