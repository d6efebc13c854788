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
