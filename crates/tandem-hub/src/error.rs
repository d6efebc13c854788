//! Errors of the downloader.

use std::path::PathBuf;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub could not be reached (no network, DNS failure, refused connection).
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The hub answered with an HTTP error status.
    #[error("{url} answered HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: String,
    },
    /// The downloaded bytes do not hash to what the hub's LFS metadata says.
    #[error("sha256 mismatch for {file}: the hub says {expected}, the download hashes to {actual}; the file was deleted")]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    /// The download has a different length than announced.
    #[error("size mismatch for {file}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    /// Reading the response failed midway (the partial file is kept for resuming).
    #[error("download of {url} interrupted: {reason} (run again to resume)")]
    Interrupted { url: String, reason: String },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No cache directory could be determined.
    #[error("no cache directory: set TANDEM_HOME")]
    NoCacheDir,
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the failure means "no network" rather than a problem with the files.
    pub fn is_offline(&self) -> bool {
        matches!(self, HubError::Unreachable { .. })
    }
}
