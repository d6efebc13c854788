//! The crate's error type, and which errors are worth retrying.

use std::time::Duration;

/// Why a call to the endpoint failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    /// The service answered with an error status. 429 and 5xx are retryable (overload,
    /// restarts); other 4xx mean the request itself is wrong and are not.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        /// The start of the response body (the service's error message).
        body: String,
        /// The `Retry-After` the service asked for, if any (seconds form).
        retry_after: Option<Duration>,
    },

    /// No answer within the call timeout.
    #[error("{url} did not answer within {timeout:?}: {message}")]
    Timeout {
        url: String,
        timeout: Duration,
        message: String,
    },

    /// The connection could not be made or broke (refused, reset, DNS).
    #[error("connecting to {url} failed: {message}")]
    Connection { url: String, message: String },

    /// The request could not be built from the batch (e.g. examples of different shapes for
    /// one input): a property of the examples, so the engine bisects the batch.
    #[error("cannot build the request: {reason}")]
    Request { reason: String },

    /// The service answered 2xx with a body that does not fit the protocol (not JSON, missing
    /// outputs, wrong number of predictions).
    #[error("{url} answered with an unexpected body: {reason}")]
    Response { url: String, reason: String },
}

impl RemoteError {
    /// Whether the same request may succeed later: 429, 5xx, timeouts and connection failures
    /// (Beam's default retry filter for remote handlers retries these).
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Status { status, .. } => *status == 429 || *status >= 500,
            RemoteError::Timeout { .. } | RemoteError::Connection { .. } => true,
            RemoteError::Request { .. } | RemoteError::Response { .. } => false,
        }
    }

    /// The wait the service asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
