//! Errors that stop a run (bad arguments, unusable models). Bad *inputs* never do: they become
//! dead-letter records instead.

use std::path::PathBuf;

/// Why a `tandem` command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A backend named on the command line is not part of this build.
    #[error("backend `{backend}` is not compiled into this build of tandem ({hint})")]
    BackendNotCompiled {
        backend: &'static str,
        hint: &'static str,
    },
    /// The backend exists but could not start (no adapter, driver error).
    #[error("backend `{backend}` could not start: {reason}")]
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
    /// A model directory is missing or unusable.
    #[error("model directory {dir}: {reason}")]
    Model { dir: PathBuf, reason: String },
    /// Default weights are not cached and cannot be downloaded.
    #[error("{model} is not in the cache ({dir}) and could not be downloaded: {reason}\n  use a local checkpoint directory instead: {flag} DIR (any Hugging Face checkpoint directory with config.json and model.safetensors)")]
    WeightsUnavailable {
        model: String,
        dir: PathBuf,
        reason: String,
        flag: &'static str,
    },
    /// An argument is invalid.
    #[error("{option}: {reason}")]
    Argument {
        option: &'static str,
        reason: String,
    },
    /// Nothing to process.
    #[error("no inputs: {0}")]
    NoInputs(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The pipeline failed as a whole.
    #[error("pipeline: {0}")]
    Pipeline(#[from] tandem_pipeline::Error),
}

impl CliError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}
