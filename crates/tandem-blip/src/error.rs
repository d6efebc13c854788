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
}

pub type Result<T> = std::result::Result<T, BlipError>;

impl BlipError {
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
