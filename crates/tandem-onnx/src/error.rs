//! The crate's error type.

use std::path::PathBuf;

use crate::tensor::DType;

/// How to get the ONNX Runtime shared library, repeated in every "not found" error.
pub const INSTALL_HINT: &str = "install ONNX Runtime (e.g. `pip install onnxruntime==1.31.1`) and \
set ORT_DYLIB_PATH to its shared library (the wheel's `onnxruntime/capi/libonnxruntime.so.<version>`; \
`ORT_DYLIB_PATH=$(cargo xtask onnxruntime)` does both in this repository), or pass the path with \
`OnnxModelHandler::with_library`";

/// What went wrong loading ONNX Runtime or a model, or running one.
///
/// Errors from the runtime keep their source ([`ort::Error`]); the handler renders the whole
/// chain into the dead-letter record.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The ONNX Runtime shared library could not be loaded.
    #[error("cannot load the ONNX Runtime library `{}`: {reason}; {INSTALL_HINT}", path.display())]
    Library { path: PathBuf, reason: String },

    /// ONNX Runtime failed while `context` (creating a session, running the graph...).
    #[error("ONNX Runtime failed {context}")]
    Runtime {
        context: String,
        #[source]
        source: ort::Error,
    },

    /// The model file does not exist.
    #[error("ONNX model file `{}` does not exist", path.display())]
    ModelNotFound { path: PathBuf },

    /// The model uses something this handler does not serve (a non-tensor input, an element
    /// type without a Rust counterpart here, no batch axis).
    #[error("model input/output `{name}` is not supported: {reason}")]
    Unsupported { name: String, reason: String },

    /// An example lacks one of the model's inputs.
    #[error("example {index} has no input `{input}` (the model's inputs are {expected:?})")]
    MissingInput {
        index: usize,
        input: String,
        expected: Vec<String>,
    },

    /// An example names an input the model does not have.
    #[error("example {index} has an input `{input}` the model does not have (its inputs are {expected:?})")]
    UnknownInput {
        index: usize,
        input: String,
        expected: Vec<String>,
    },

    /// An example's tensor for `input` has the wrong shape (per example, without the batch axis).
    #[error("example {index}: input `{input}` has shape {got:?}, the model expects {expected} per example")]
    InputShape {
        index: usize,
        input: String,
        expected: String,
        got: Vec<usize>,
    },

    /// An example's tensor for `input` has the wrong element type.
    #[error("example {index}: input `{input}` holds {got}, the model expects {expected}")]
    InputType {
        index: usize,
        input: String,
        expected: DType,
        got: DType,
    },

    /// A tensor's data length does not match its shape.
    #[error("tensor `{name}`: shape {shape:?} needs {expected} elements, got {got}")]
    DataLength {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },

    /// An output did not come back with one row per example along axis 0.
    #[error("output `{output}` has shape {shape:?}, expected {batch} rows along axis 0 (one per example)")]
    OutputBatch {
        output: String,
        shape: Vec<i64>,
        batch: usize,
    },
}

impl OnnxError {
    pub(crate) fn runtime(context: impl Into<String>) -> impl FnOnce(ort::Error) -> OnnxError {
        let context = context.into();
        move |source| OnnxError::Runtime { context, source }
    }
}
