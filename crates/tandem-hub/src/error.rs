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
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No cache directory could be determined.
    #[error("no cache directory: set HF_HOME (or HF_HUB_CACHE)")]
    NoCacheDir,
    /// A hub id that is not `owner/name[@revision]`.
    #[error("`{id}` is not a Hugging Face Hub model id: {reason} (e.g. openai/clip-vit-base-patch32 or openai/clip-vit-base-patch32@main)")]
    BadRepoId { id: String, reason: String },
    /// The model is not in the cache and `HF_HUB_OFFLINE` forbids downloading it.
    #[error("{repo} is not in the Hugging Face cache {} and HF_HUB_OFFLINE is set", cache.display())]
    Offline { repo: String, cache: PathBuf },
    /// Every file was fetched, yet the snapshot is not complete (the cache changed meanwhile).
    #[error("{repo}: the snapshot in {} is incomplete after downloading", cache.display())]
    Incomplete { repo: String, cache: PathBuf },
    /// Any other failure `hf-hub` reports (missing hub headers, a lock held by another
    /// process, a corrupted partial file).
    #[error("downloading {url}: {reason}")]
    Download { url: String, reason: String },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the failure means "no network" (or offline by choice) rather than a problem
    /// with the files.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            HubError::Unreachable { .. } | HubError::Offline { .. }
        )
    }
}
