//! [`RemoteModelHandler`]: a model behind an HTTP endpoint, with Beam's remote semantics.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tandem_handler::{BatchConfig, Clock, HandlerError, ModelHandler, SystemClock};

use crate::error::RemoteError;
use crate::metrics::RemoteMetrics;
use crate::protocol::Protocol;
use crate::throttler::{AdaptiveThrottler, ThrottleConfig};
use crate::transport::HttpClient;

/// How a [`RemoteModelHandler`] calls its endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// Retries of a request that failed with a retryable error (429, 5xx, timeout, connection)
    /// before the batch is given up. Default: 5 (Beam's `num_retries`).
    pub num_retries: u32,
    /// Wait before the first retry; it doubles per retry. A longer `Retry-After` from the
    /// service wins. Default: 1 s.
    pub initial_backoff: Duration,
    /// Upper bound of a wait between retries. Default: 60 s.
    pub max_backoff: Duration,
    /// Time limit of one call: connecting, sending and reading the whole answer. Default: 30 s.
    pub timeout: Duration,
    /// Client-side adaptive throttling.
    pub throttle: ThrottleConfig,
    /// Extra headers sent with every request (`Authorization: Bearer ...`).
    pub headers: Vec<(String, String)>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            num_retries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            throttle: ThrottleConfig::default(),
            headers: Vec::new(),
        }
    }
}

impl RemoteConfig {
    /// The wait before retry `attempt` (1-based) after `error`.
    pub fn backoff(&self, attempt: u32, error: &RemoteError) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let doubled = self.initial_backoff.saturating_mul(factor);
        doubled
            .max(error.retry_after().unwrap_or(Duration::ZERO))
            .min(self.max_backoff)
    }
}

/// Inference on a remote endpoint, one HTTP request per batch: Beam's `RemoteModelHandler`
/// (`apache_beam/ml/inference/base.py`) for any [`Protocol`] ([`crate::KServeV2`],
/// [`crate::OpenAiEmbeddings`]).
///
/// Per batch (`run_inference`):
/// 1. **Throttle**: the [`AdaptiveThrottler`] may hold the request back; it then waits
///    `throttle.delay` on the clock and asks again (counted in [`crate::RemoteStats`]
///    `throttled` / `throttled_seconds`).
/// 2. **Send** with a per-call `timeout`.
/// 3. **Retry** retryable failures (429, 5xx, timeouts, connection errors) up to
///    `num_retries` times with doubling back-off (or the service's `Retry-After`), each attempt
///    going through the throttler again.
/// 4. **Give up**: a batch still failing on retryable errors returns
///    [`HandlerError::Unavailable`], which the engine dead-letters whole without bisecting (more
///    requests would not help a service that is down); a non-retryable failure (400, a body
///    the protocol cannot read, examples that cannot share a request) returns
///    [`HandlerError::Inference`], which the engine bisects so only the offending example is
///    dead-lettered.
///
/// The throttler and the counters live in the handler, so every worker of a step shares them.
/// The "model" is the HTTP client (connection pool), created by `load_model` like Beam's
/// `create_client`. Waits use the injected [`Clock`] ([`RemoteModelHandler::with_clock`]), so
/// tests count back-off and throttling instead of sleeping.
pub struct RemoteModelHandler<P: Protocol> {
    base_url: String,
    protocol: P,
    config: RemoteConfig,
    batch: BatchConfig,
    clock: Arc<dyn Clock>,
    throttler: Mutex<Option<AdaptiveThrottler>>,
    metrics: RemoteMetrics,
}

impl<P: Protocol> RemoteModelHandler<P> {
    /// Calls `protocol` on the server at `base_url` (e.g. `http://127.0.0.1:8000` for KServe,
    /// `http://127.0.0.1:8000/v1` for OpenAI-compatible APIs) with default settings.
    pub fn new(base_url: impl Into<String>, protocol: P) -> Self {
        RemoteModelHandler {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            protocol,
            config: RemoteConfig::default(),
            batch: BatchConfig::default(),
            clock: Arc::new(SystemClock),
            throttler: Mutex::new(None),
            metrics: RemoteMetrics::new(),
        }
    }

    /// Retry, timeout, throttling and header settings.
    pub fn with_config(mut self, config: RemoteConfig) -> Self {
        self.config = config;
        self
    }

    /// Batching settings (how many examples share one request).
    pub fn with_batch_config(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// The clock for back-off and throttling waits and for the throttler's window.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The call counters (shared by clones of the returned handle).
    pub fn metrics(&self) -> RemoteMetrics {
        self.metrics.clone()
    }

    /// The full URL requests go to.
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.protocol.path())
    }

    /// Waits until the throttler lets a request through.
    fn throttle(&self) {
        loop {
            let held = {
                let mut slot = self
                    .throttler
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let now = self.clock.now();
                slot.get_or_insert_with(|| AdaptiveThrottler::new(&self.config.throttle, now))
                    .throttle_request(now)
            };
            if !held {
                return;
            }
            self.metrics.record_wait(true, self.config.throttle.delay);
            self.clock.sleep(self.config.throttle.delay);
        }
    }

    fn accepted(&self, sent: std::time::Instant) {
        let mut slot = self
            .throttler
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(throttler) = slot.as_mut() {
            throttler.successful_request(sent);
        }
    }

    /// One batch: throttle, send, retry; the typed error of the last attempt on failure.
    pub fn request(
        &self,
        batch: &[&P::Example],
        client: &HttpClient,
    ) -> Result<Vec<P::Prediction>, RemoteError> {
        let body = self.protocol.encode(batch)?;
        let url = self.url();
        let mut attempt = 0;
        loop {
            self.throttle();
            let sent = self.clock.now();
            self.metrics.update(|s| s.requests += 1);
            let error = match client.post_json(&url, &body) {
                Ok(text) => {
                    self.accepted(sent);
                    self.metrics.update(|s| s.successes += 1);
                    return self.protocol.decode(&text, batch.len()).map_err(|reason| {
                        let e = RemoteError::Response {
                            url: url.clone(),
                            reason,
                        };
                        self.metrics.record_error(&e);
                        e
                    });
                }
                Err(e) => e,
            };
            self.metrics.record_error(&error);
            if !error.is_retryable() || attempt >= self.config.num_retries {
                return Err(error);
            }
            attempt += 1;
            let wait = self.config.backoff(attempt, &error);
            self.metrics.update(|s| s.retries += 1);
            self.metrics.record_wait(false, wait);
            self.clock.sleep(wait);
        }
    }
}

impl<P: Protocol> ModelHandler for RemoteModelHandler<P> {
    type Example = P::Example;
    type Prediction = P::Prediction;
    type Model = HttpClient;
    type Args = ();

    fn load_model(&self) -> Result<HttpClient, HandlerError> {
        Ok(HttpClient::new(
            self.config.timeout,
            self.config.headers.clone(),
        ))
    }

    fn run_inference(
        &self,
        batch: &[&P::Example],
        model: &HttpClient,
        _args: &(),
    ) -> Result<Vec<P::Prediction>, HandlerError> {
        self.request(batch, model).map_err(|error| {
            self.metrics.update(|s| s.failed_batches += 1);
            if error.is_retryable() {
                HandlerError::Unavailable {
                    reason: format!("{error} (after {} retries)", self.config.num_retries),
                }
            } else {
                HandlerError::inference(error)
            }
        })
    }

    fn model_id(&self) -> String {
        format!("remote:{}:{}", self.base_url, self.protocol.label())
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch.clone()
    }
}
