//! Counters of the calls a [`crate::RemoteModelHandler`] makes, beside the engine's own
//! per-batch metrics (batches, dead letters, latency), which it records as for any handler.

use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::RemoteError;

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteStats {
    /// HTTP requests sent (every attempt, retries included).
    pub requests: u64,
    /// Requests answered 2xx.
    pub successes: u64,
    /// Attempts that were retries of a failed request.
    pub retries: u64,
    /// Times the adaptive throttler held a request back.
    pub throttled: u64,
    /// Time spent held back by the throttler, in seconds (Beam's
    /// `cumulativeThrottlingSeconds`, which Dataflow reads to scale workers down).
    pub throttled_seconds: f64,
    /// Time spent waiting between retries, in seconds.
    pub backoff_seconds: f64,
    /// Answers 429 Too Many Requests.
    pub rate_limited: u64,
    /// Answers 5xx.
    pub server_errors: u64,
    /// Answers 4xx other than 429.
    pub client_errors: u64,
    /// Calls that got no answer within the timeout.
    pub timeouts: u64,
    /// Calls whose connection failed.
    pub connection_errors: u64,
    /// 2xx answers that did not fit the protocol.
    pub bad_responses: u64,
    /// Batches given up (retries exhausted or a non-retryable error).
    pub failed_batches: u64,
}

/// The shared counters: cheap to clone, every clone records into the same table.
#[derive(Debug, Clone, Default)]
pub struct RemoteMetrics {
    stats: Arc<Mutex<RemoteStats>>,
}

impl RemoteMetrics {
    /// Zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> RemoteStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut RemoteStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(crate) fn record_error(&self, error: &RemoteError) {
        self.update(|s| match error {
            RemoteError::Status { status: 429, .. } => s.rate_limited += 1,
            RemoteError::Status { status, .. } if *status >= 500 => s.server_errors += 1,
            RemoteError::Status { .. } => s.client_errors += 1,
            RemoteError::Timeout { .. } => s.timeouts += 1,
            RemoteError::Connection { .. } => s.connection_errors += 1,
            RemoteError::Response { .. } => s.bad_responses += 1,
            RemoteError::Request { .. } => {}
        });
    }

    pub(crate) fn record_wait(&self, throttled: bool, waited: Duration) {
        self.update(|s| {
            if throttled {
                s.throttled += 1;
                s.throttled_seconds += waited.as_secs_f64();
            } else {
                s.backoff_seconds += waited.as_secs_f64();
            }
        });
    }

    /// The counters in the Prometheus text format, as `{namespace}_remote_*` with a `model`
    /// label.
    pub fn to_prometheus(&self, namespace: &str, model: &str) -> String {
        let s = self.snapshot();
        let mut out = String::new();
        let mut line = |name: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP {namespace}_remote_{name} {help}");
            let _ = writeln!(out, "# TYPE {namespace}_remote_{name} counter");
            let _ = writeln!(
                out,
                "{namespace}_remote_{name}{{model=\"{model}\"}} {value}"
            );
        };
        line(
            "requests_total",
            "HTTP requests sent, retries included.",
            s.requests as f64,
        );
        line(
            "successes_total",
            "Requests answered 2xx.",
            s.successes as f64,
        );
        line("retries_total", "Retried requests.", s.retries as f64);
        line(
            "throttled_total",
            "Requests held back by the adaptive throttler.",
            s.throttled as f64,
        );
        line(
            "throttled_seconds_total",
            "Seconds held back by the throttler.",
            s.throttled_seconds,
        );
        line("rate_limited_total", "Answers 429.", s.rate_limited as f64);
        line(
            "server_errors_total",
            "Answers 5xx.",
            s.server_errors as f64,
        );
        line(
            "timeouts_total",
            "Calls without an answer in time.",
            s.timeouts as f64,
        );
        line(
            "connection_errors_total",
            "Failed connections.",
            s.connection_errors as f64,
        );
        line(
            "failed_batches_total",
            "Batches given up.",
            s.failed_batches as f64,
        );
        out
    }
}
