//! Bring your own model: any ONNX model as a Tandem [`tandem_handler::ModelHandler`].
//!
//! [`OnnxModelHandler`] serves an `.onnx` file with ONNX Runtime through the `ort` crate in its
//! dynamic-loading mode: nothing is downloaded or linked at build time; the runtime's shared
//! library is opened when the first model loads (see [`runtime`] for where it is looked for,
//! and [`OnnxError::Library`] for the message when it is missing). The `onnxruntime` wheel on
//! PyPI ships it (`onnxruntime/capi/libonnxruntime.so.<version>`); `ort` needs 1.17 or newer.
//!
//! Inputs and outputs are named as in the graph ([`Signature`], read from the model's
//! metadata); examples are [`NamedTensors`] without the batch axis, stacked by the engine's
//! dynamic batching along axis 0. Session options ([`SessionConfig`]): threads, graph
//! optimisation level, execution providers (CPU; CUDA when the library and a GPU have it).
//!
//! In a pipeline it is one more RunInference step:
//!
//! ```no_run
//! use tandem_onnx::{NamedTensors, OnnxModelHandler, TensorValue};
//! use tandem_pipeline::Pipeline;
//!
//! let p = Pipeline::new();
//! let embeddings = p.create(vec![vec![0.1f32; 12], vec![0.2; 12]]);
//! let examples = embeddings.map("ToInputs", |e: Vec<f32>| {
//!     NamedTensors::new().with("image_embeds", TensorValue::vector_f32(e))
//! });
//! let probs = examples.run_inference("Classify", OnnxModelHandler::new("classifier.onnx"));
//! # let _ = probs;
//! ```

mod batch;
mod error;
mod handler;
pub mod runtime;
mod session;
mod tensor;

pub use error::{OnnxError, INSTALL_HINT};
pub use handler::{OnnxModel, OnnxModelHandler};
pub use session::{
    BatchAxis, ExecutionProvider, OptimizationLevel, SessionConfig, Signature, TensorSpec,
};
pub use tensor::{DType, NamedTensors, TensorData, TensorValue};
