//! The crate's single error type.
//!
//! Every variant names the step (and, where there is one, the element) so a failed run can be
//! traced back to the user code that caused it without a debugger.

use std::path::PathBuf;

/// Why building or running a pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// User code (a `DoFn`, a closure) returned an error or panicked on an element, and the step
    /// has no dead-letter output to route the element to.
    #[error("step `{step}` failed on element {element}: {message}")]
    ElementFailed {
        /// The step's name.
        step: String,
        /// The element, as its `Debug` text (truncated when long).
        element: String,
        /// The error returned, or the panic message.
        message: String,
    },
    /// User code failed outside any single element (`setup`, `start_bundle`, `finish_bundle`,
    /// a deadline callback, a sink's open/close).
    #[error("step `{step}` failed in {phase}: {message}")]
    StepFailed {
        /// The step's name.
        step: String,
        /// Which lifecycle hook failed, e.g. `"setup"` or `"finish_bundle"`.
        phase: &'static str,
        /// The error returned, or the panic message.
        message: String,
    },
    /// A source could not produce its elements (unreadable file, malformed JSON line...).
    #[error("source `{step}` failed: {message}")]
    SourceFailed {
        /// The source step's name.
        step: String,
        /// What went wrong, naming the input (file, line) where known.
        message: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSON Lines file is not valid JSON for the expected type.
    #[error("`{path}` line {line}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A glob pattern is malformed.
    #[error("invalid glob pattern `{pattern}`: {reason}")]
    InvalidGlob {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A file source's glob matched no file.
    #[error("no file matches `{pattern}`")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A grouping step reads an unbounded collection that has not been windowed: it would
    /// never emit anything.
    #[error("step `{step}` groups an unbounded collection in the global window; apply `window_into(FixedWindows::of(..))` first")]
    UnboundedGroupWithoutWindow {
        /// The grouping step's name.
        step: String,
    },
    /// The graph is malformed (for example, handles from two different pipelines were mixed).
    #[error("invalid pipeline graph: {reason}")]
    InvalidGraph {
        /// What is wrong.
        reason: String,
    },
    /// The pipeline was already run; a graph's sources are consumed by a run.
    #[error("this pipeline has already been run")]
    AlreadyRun,
    /// The runner's own accounting found elements that went missing between steps. This is a
    /// runner bug, reported rather than hidden.
    #[error("element accounting does not balance: {details}")]
    Accounting {
        /// Which steps or edges disagree.
        details: String,
    },
    /// A runner worker thread could not be started or died outside user code.
    #[error("runner worker for step `{step}` failed: {message}")]
    Worker {
        /// The step's name.
        step: String,
        /// What happened.
        message: String,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error type user code returns: anything displayable, boxed. Only its message is kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
