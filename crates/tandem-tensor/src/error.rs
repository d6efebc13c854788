//! The one error type of `tandem-tensor`.
//!
//! Variants are structured (op name, shapes, dtypes) so a caller can route a failed element to a
//! dead-letter output with a message that says exactly which op rejected which input.

use crate::DType;

/// Errors from tensor construction, views and backend ops. Shape or dtype mistakes are always
/// reported here, never as a panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },

    #[error("{op}: expected dtype {expected}, got {got}")]
    DTypeMismatch {
        op: &'static str,
        expected: DType,
        got: DType,
    },

    #[error("{op}: dtype {dtype} is not supported by this op")]
    UnsupportedDType { op: &'static str, dtype: DType },

    #[error("{op}: dimension {dim} is out of range for a tensor of rank {rank}")]
    DimOutOfRange {
        op: &'static str,
        dim: usize,
        rank: usize,
    },

    #[error("{op}: expected rank {expected}, got shape {shape:?}")]
    RankMismatch {
        op: &'static str,
        expected: usize,
        shape: Vec<usize>,
    },

    #[error("reshape: cannot view shape {from:?} as {to:?}")]
    ReshapeMismatch { from: Vec<usize>, to: Vec<usize> },

    #[error("{op}: index {index} is out of range for a dimension of size {size}")]
    IndexOutOfRange {
        op: &'static str,
        index: usize,
        size: usize,
    },

    #[error("{op}: {len} elements of data do not fill shape {shape:?} ({expected} elements)")]
    DataLength {
        op: &'static str,
        len: usize,
        expected: usize,
        shape: Vec<usize>,
    },

    #[error("{op}: {message}")]
    InvalidArgument { op: &'static str, message: String },

    #[error("{op}: tensors live on different devices ({lhs} and {rhs})")]
    DeviceMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
    },

    /// A device-side failure (lost device, kernel compile error, driver error…). The backend's
    /// own error is kept as the `source` (not flattened to a string), so callers can downcast it
    /// (`source.downcast_ref::<tandem_wgpu::WgpuError>()`) and error reports show the whole chain.
    #[error("backend {backend}: {source}")]
    Backend {
        backend: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The device could not allocate `requested_bytes` more bytes. Distinct from
    /// [`Error::Backend`] because the remedy differs: the same input in a smaller batch (or after
    /// other requests free memory) can succeed, so a batcher should split the batch rather than
    /// treat its elements as bad data.
    #[error("backend {backend}: out of device memory allocating {requested_bytes} bytes")]
    OutOfMemory {
        backend: String,
        requested_bytes: u64,
    },

    /// The requested backend was compiled out of this build.
    #[error(
        "backend `{backend}` is not compiled into this build; rebuild with `--features {feature}`"
    )]
    NotCompiled {
        backend: &'static str,
        feature: &'static str,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a backend's own error, keeping it as the source.
    pub fn backend(
        backend: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            backend: backend.into(),
            source: Box::new(source),
        }
    }

    /// Whether the failure was the device running out of memory (retrying with less work may
    /// succeed), as opposed to bad input or a broken device.
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, Error::OutOfMemory { .. })
    }

    /// The failed allocation's size in bytes when the device ran out of memory.
    pub fn out_of_memory_bytes(&self) -> Option<u64> {
        match self {
            Error::OutOfMemory {
                requested_bytes, ..
            } => Some(*requested_bytes),
            _ => None,
        }
    }

    pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }
}
