//! Bring your own model, served elsewhere: [`RemoteModelHandler`] runs inference on an HTTP
//! endpoint with the semantics of Beam's `RemoteModelHandler`.
//!
//! - **Protocols** ([`Protocol`]): [`KServeV2`], the KServe v2 / Triton inference protocol
//!   (`POST /v2/models/{name}/infer`, named tensors stacked along the batch axis), and
//!   [`OpenAiEmbeddings`] (`POST /v1/embeddings`).
//! - **Retries** with doubling back-off on retryable errors (429, 5xx, timeouts, connection
//!   failures), honouring `Retry-After`.
//! - **Client-side adaptive throttling** ([`AdaptiveThrottler`], Beam's): under refusals the
//!   client holds requests back with probability `max(0, (requests - K * accepts) / (requests +
//!   1))` over a sliding window, so its request rate drops to what the service takes, and
//!   recovers as the refusals age out.
//! - **A timeout per call**, and **dead letters** for what still fails: a service that stays
//!   down fails the batch as [`tandem_handler::HandlerError::Unavailable`] (dead-lettered
//!   whole); a request the service rejects (400) is bisected by the engine so only the bad
//!   example is dead-lettered.
//! - **Metrics** ([`RemoteMetrics`]): requests, retries, throttled requests and seconds, 429s,
//!   5xx, timeouts, connection errors; the engine's batch metrics as for any handler.
//!
//! The HTTP client is `ureq` (blocking, already the workspace's client): a batch call blocks
//! its worker like any model call, and the engine's workers give the concurrency.
//!
//! ```no_run
//! use tandem_remote::{KServeV2, InferTensor, RemoteModelHandler};
//! use tandem_pipeline::Pipeline;
//!
//! let handler = RemoteModelHandler::new("http://127.0.0.1:8000", KServeV2::new("classifier"));
//! let p = Pipeline::new();
//! let rows = p.create(vec![vec![0.1f32; 12], vec![0.2; 12]]);
//! let inputs = rows.map("ToTensors", |row: Vec<f32>| vec![InferTensor::fp32("image_embeds", row)]);
//! let predictions = inputs.run_inference("Classify", handler);
//! # let _ = predictions;
//! ```

mod error;
mod handler;
mod kserve;
mod metrics;
mod openai;
mod protocol;
mod throttler;
mod transport;

pub use error::RemoteError;
pub use handler::{RemoteConfig, RemoteModelHandler};
pub use kserve::{tensor, InferData, InferTensor, InferTensors, KServeV2};
pub use metrics::{RemoteMetrics, RemoteStats};
pub use openai::OpenAiEmbeddings;
pub use protocol::Protocol;
pub use throttler::{AdaptiveThrottler, ThrottleConfig};
pub use transport::HttpClient;
