//! Device-resident tensors for Tandem's models, the [`Backend`] trait every device implements,
//! and the CPU backend that is both the default and the reference.
//!
//! Model code is written once against `Tensor<B: Backend>` and never names a device:
//!
//! ```
//! use tandem_tensor::{CpuBackend, Tensor};
//! # fn main() -> tandem_tensor::Result<()> {
//! let cpu = CpuBackend::default();
//! let x = Tensor::from_slice(&cpu, &[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let w = Tensor::from_slice(&cpu, &[1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
//! let y = x.linear(&w, None, None)?.softmax(None, false)?;
//! assert_eq!(y.dims(), &[2, 2]);
//! # Ok(()) }
//! ```
//!
//! Backends implement a small set of primitives (copy, cast, unary, binary, reduce, matmul,
//! index-select, concat, top-k); composite ops (fused matmul epilogue, softmax, layer norm,
//! attention, …) have default bodies built from them, which a backend overrides with a fused
//! kernel when it has one. See [`Backend`].

mod backend;
pub mod cpu;
mod dtype;
mod error;
pub mod layout;
pub mod op;
mod packed;
mod rounding;
mod tensor;
mod tensor_ops;

pub use backend::Backend;
pub use cpu::CpuBackend;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use layout::Layout;
pub use op::{Activation, AttentionSpec, BinaryOp, MatmulSpec, MatrixRef, ReduceOp, UnaryOp};
pub use packed::{PackedRhs, PanelLayout, MAX_PANEL_WIDTH};
pub use rounding::{bf16_from_f64, f16_from_f64};
pub use tensor::Tensor;
pub use tensor_ops::attention;

pub use half::{bf16, f16};
