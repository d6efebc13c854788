//! The one error type of `tandem-image`.

use std::path::PathBuf;

/// Everything that can go wrong reading, decoding or preprocessing an image, or reading an
/// image processor's settings. Bad images are errors naming the input, never panics.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A tensor op failed (building `pixel_values`).
    #[error(transparent)]
    Tensor(#[from] tandem_tensor::Error),

    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `preprocessor_config.json` is malformed or inconsistent.
    #[error("{file}: {reason}")]
    Config { file: String, reason: String },

    /// An image could not be decoded or converted.
    #[error("image {source_name}: {reason}")]
    Image { source_name: String, reason: String },

    /// A request is malformed (no images, mismatched sizes, an image too thin to resize).
    #[error("{what}: {reason}")]
    Input { what: &'static str, reason: String },
}

pub type Result<T> = std::result::Result<T, ImageError>;

impl ImageError {
    /// The failed allocation's size in bytes when a tensor op ran out of device memory
    /// ([`tandem_tensor::Error::OutOfMemory`]).
    pub fn out_of_memory_bytes(&self) -> Option<u64> {
        match self {
            ImageError::Tensor(e) => e.out_of_memory_bytes(),
            _ => None,
        }
    }

    pub(crate) fn config(file: impl Into<String>, reason: impl Into<String>) -> Self {
        ImageError::Config {
            file: file.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        ImageError::Input {
            what,
            reason: reason.into(),
        }
    }
}
