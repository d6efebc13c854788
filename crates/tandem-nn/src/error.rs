//! The one error type of `tandem-nn`.

use crate::weights::WeightReport;
use std::path::PathBuf;

/// Errors from loading weights and running layers. A bad checkpoint (missing file, corrupt or
/// truncated data, tensors that do not fit the model) is always an error, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A tensor op rejected its inputs (shapes, dtypes) or the backend failed.
    #[error(transparent)]
    Tensor(#[from] tandem_tensor::Error),

    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A safetensors file is truncated, has a garbage header, or addresses data outside itself.
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    CorruptWeights { path: PathBuf, reason: String },

    /// The checkpoint's tensors do not match what the model asked for; the report lists every
    /// missing, unexpected, mis-shaped and unusable tensor at once.
    #[error("the weights do not match the model:\n{0}")]
    WeightsMismatch(WeightReport),

    /// A model configuration is inconsistent (e.g. a hidden size not divisible by the heads).
    #[error("invalid configuration: {field}: {reason}")]
    Config { field: String, reason: String },

    /// An input to a layer is malformed (wrong rank, wrong image size, bad ids).
    #[error("{what}: {reason}")]
    Input { what: &'static str, reason: String },
}

pub type Result<T> = std::result::Result<T, NnError>;

impl NnError {
    /// The failed allocation's size in bytes when a tensor op ran out of device memory
    /// ([`tandem_tensor::Error::OutOfMemory`]).
    pub fn out_of_memory_bytes(&self) -> Option<u64> {
        match self {
            NnError::Tensor(e) => e.out_of_memory_bytes(),
            _ => None,
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        NnError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        NnError::Input {
            what,
            reason: reason.into(),
        }
    }
}
