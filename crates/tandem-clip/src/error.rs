//! The one error type of `tandem-clip`.

use std::path::PathBuf;

/// Everything that can go wrong loading CLIP or running it on user input. Bad images, bad
/// checkpoints and bad captions are errors naming the input, never panics.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// Weight loading or a layer failed (includes the full list of checkpoint mismatches).
    #[error(transparent)]
    Nn(#[from] tandem_nn::NnError),

    /// A tensor op failed.
    #[error(transparent)]
    Tensor(#[from] tandem_tensor::Error),

    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `config.json` / `preprocessor_config.json` is malformed or inconsistent.
    #[error("{file}: {reason}")]
    Config { file: String, reason: String },

    /// The tokenizer files are missing or malformed, or encoding failed.
    #[error("tokenizer: {reason}")]
    Tokenizer { reason: String },

    /// An image could not be decoded, converted or preprocessed.
    #[error(transparent)]
    Image(#[from] tandem_image::ImageError),

    /// A request is malformed (no captions, no images, mismatched batch sizes).
    #[error("{what}: {reason}")]
    Input { what: &'static str, reason: String },
}

pub type Result<T> = std::result::Result<T, ClipError>;

impl ClipError {
    /// The failed allocation's size in bytes when a tensor op ran out of device memory
    /// ([`tandem_tensor::Error::OutOfMemory`]), through any layer of wrapping.
    pub fn out_of_memory_bytes(&self) -> Option<u64> {
        match self {
            ClipError::Tensor(e) => e.out_of_memory_bytes(),
            ClipError::Nn(e) => e.out_of_memory_bytes(),
            ClipError::Image(e) => e.out_of_memory_bytes(),
            _ => None,
        }
    }

    pub(crate) fn config(file: impl Into<String>, reason: impl Into<String>) -> Self {
        ClipError::Config {
            file: file.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn tokenizer(reason: impl std::fmt::Display) -> Self {
        ClipError::Tokenizer {
            reason: reason.to_string(),
        }
    }
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        ClipError::Input {
            what,
            reason: reason.into(),
        }
    }
}

/// A failed `run_inference`: [`HandlerError::OutOfMemory`] when a tensor op ran out of device
/// memory (RunInference then shrinks the batch instead of bisecting it as bad data),
/// [`HandlerError::Inference`] with the whole error chain otherwise.
impl From<ClipError> for tandem_handler::HandlerError {
    fn from(e: ClipError) -> Self {
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
            ClipError::Tensor(oom()),
            ClipError::Nn(tandem_nn::NnError::Tensor(oom())),
            ClipError::Image(tandem_image::ImageError::Tensor(oom())),
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
        let other = ClipError::Tensor(tandem_tensor::Error::InvalidArgument {
            op: "matmul",
            message: "shapes".into(),
        });
        assert!(matches!(
            HandlerError::from(other),
            HandlerError::Inference { .. }
        ));
    }
}
