//! The one error type of `tandem-blip`.

use std::path::PathBuf;

/// Errors from loading a BLIP checkpoint, tokenizing, and generating captions. Bad input (a
/// missing file, a malformed config, impossible generation settings) is an error naming the
/// input and the problem, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum BlipError {
    /// A layer or the weight loader failed (includes the complete weight mismatch report).
    #[error(transparent)]
    Nn(#[from] tandem_nn::NnError),
    /// A tensor op rejected its inputs or the backend failed.
    #[error(transparent)]
    Tensor(#[from] tandem_tensor::Error),
    /// Decoding or preprocessing an image failed.
    #[error(transparent)]
    Image(#[from] tandem_image::ImageError),
    /// Reading a file of the checkpoint failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `config.json` (or another JSON file) is not what a BLIP checkpoint holds.
    #[error("{}: {reason}", path.display())]
    BadConfig { path: PathBuf, reason: String },
    /// A configuration value is inconsistent (e.g. hidden size not divisible by the heads).
    #[error("invalid configuration: {field}: {reason}")]
    Config { field: String, reason: String },
    /// The tokenizer could not be built, or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A generation setting is out of range or settings contradict each other.
    #[error("generation setting `{setting}`: {reason}")]
    Generation {
        setting: &'static str,
        reason: String,
    },
    /// An input (pixels, prompt, token ids) is malformed.
    #[error("{what}: {reason}")]
    Input { what: &'static str, reason: String },
    /// A decoder step shared by several requests (continuous batching) failed or panicked;
    /// every request in that step gets this error, with the out-of-memory size when the
    /// cause was one (so each request's batch can shrink).
    #[error("a decoder step shared by {requests} request(s) failed: {reason}")]
    SharedStep {
        requests: usize,
        reason: String,
        out_of_memory_bytes: Option<u64>,
    },
}

pub type Result<T> = std::result::Result<T, BlipError>;

impl BlipError {
    /// The failed allocation's size in bytes when a tensor op ran out of device memory
    /// ([`tandem_tensor::Error::OutOfMemory`]), through any layer of wrapping.
    pub fn out_of_memory_bytes(&self) -> Option<u64> {
        match self {
            BlipError::Tensor(e) => e.out_of_memory_bytes(),
            BlipError::Nn(e) => e.out_of_memory_bytes(),
            BlipError::Image(e) => e.out_of_memory_bytes(),
            BlipError::SharedStep {
                out_of_memory_bytes,
                ..
            } => *out_of_memory_bytes,
            _ => None,
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BlipError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn generation(setting: &'static str, reason: impl Into<String>) -> Self {
        BlipError::Generation {
            setting,
            reason: reason.into(),
        }
    }
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        BlipError::Input {
            what,
            reason: reason.into(),
        }
    }
}

/// A failed `run_inference`: [`HandlerError::OutOfMemory`] when a tensor op ran out of device
/// memory (RunInference then shrinks the batch instead of bisecting it as bad data),
/// [`HandlerError::Inference`] with the whole error chain otherwise.
///
/// [`HandlerError::OutOfMemory`]: tandem_handler::HandlerError::OutOfMemory
/// [`HandlerError::Inference`]: tandem_handler::HandlerError::Inference
impl From<BlipError> for tandem_handler::HandlerError {
    fn from(e: BlipError) -> Self {
        tandem_handler::HandlerError::from_model_error(&e, e.out_of_memory_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_handler::HandlerError;

    fn oom() -> tandem_tensor::Error {
        tandem_tensor::Error::OutOfMemory {
            backend: "cuda:0".into(),
            requested_bytes: 1 << 30,
        }
    }

    #[test]
    fn out_of_memory_at_any_depth_becomes_a_handler_out_of_memory() {
        let wrapped = [
            BlipError::Tensor(oom()),
            BlipError::Nn(tandem_nn::NnError::Tensor(oom())),
            BlipError::Image(tandem_image::ImageError::Tensor(oom())),
        ];
        for e in wrapped {
            match HandlerError::from(e) {
                HandlerError::OutOfMemory {
                    requested_bytes,
                    reason,
                } => {
                    assert_eq!(requested_bytes, Some(1 << 30));
                    assert!(reason.contains("cuda:0"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let other = BlipError::Tensor(tandem_tensor::Error::InvalidArgument {
            op: "matmul",
            message: "shapes".into(),
        });
        assert!(matches!(
            HandlerError::from(other),
            HandlerError::Inference { .. }
        ));
    }
}
