//! The `ModelHandler` contract and the machinery of RunInference, independent of any runner.
//!
//! A model crate implements [`ModelHandler`] (load a model, run it on a batch) and depends on
//! nothing else. A runner adapts an [`InferenceEngine`] (one per worker): it calls
//! [`InferenceEngine::push`] per element, [`InferenceEngine::poll`] when
//! [`InferenceEngine::next_deadline`] passes, and [`InferenceEngine::flush`] at the end, and
//! routes the returned [`PredictionResult`]s and [`DeadLetter`]s to its outputs. Every pushed
//! element leaves exactly once, as a result or a dead letter.
//!
//! # What the engine does
//! - **Dynamic batching** ([`BatchConfig`]): min/max batch size, a max wait so a trickle is not
//!   held forever, a target batch duration that adapts the size to measured latency, a weight
//!   budget per batch ([`ModelHandler::element_weight`]), and length buckets
//!   ([`ModelHandler::element_length`], [`Bucketing`]). Time comes from an injected [`Clock`].
//! - **Shared models** ([`ModelManager`]): one load per process per model id, shared by all
//!   workers and steps naming it; `model_copies` loads N copies spread round-robin or
//!   least-busy; freed when the last user lets go.
//! - **Failure isolation**: errors and panics in `run_inference` fail the batch, which is
//!   retried with back-off ([`RetryPolicy`]) and then bisected so only the bad element is
//!   dead-lettered; a batch timeout; loading failures cached and reported once.
//! - **Model refresh** ([`ModelUpdates`], [`PathWatcher`]): a new version swaps in between
//!   batches; running batches finish on the old one; results name the version that served them.
//! - **Metrics** ([`InferenceMetrics`]) per step and model id, as a typed [`MetricsReport`] or
//!   Prometheus text.
//! - **Wrappers** with the same interface ([`ModelHandlerExt`]): `keyed`, `maybe_keyed`,
//!   `with_preprocess`, `with_postprocess`, each a [`HandlerWrapper`] that forwards the rest of
//!   the contract to the handler it wraps; and [`KeyModelMapping`] for keys routed to several
//!   models, a separate type.
//!
//! # Beam users' pain points, and how they are avoided here
//! - *Dict-shaped outputs losing predictions* (apache/beam#22240): predictions are any Rust type,
//!   never split or zipped by key; `run_inference` must return exactly one prediction per
//!   example, and any other count fails the batch ([`HandlerError::OutputCount`]) instead of
//!   silently dropping or misaligning outputs.
//! - *Unequal tensor sizes failing to batch*: elements batch only within their length bucket
//!   ([`Bucketing::Exact`] by default), so a handler never receives shapes it cannot stack.
//! - *Padding waste and OOM from outliers* (#37414): buckets bound padding; the weight budget
//!   caps tokens/pixels per batch, and an element heavier than the budget runs alone instead of
//!   inflating its batch-mates.
//! - *No back-off when a batch fails* (#21447): retries with exponential back-off, then
//!   bisection, so one poison element costs `log2(n)` extra calls and its batch-mates succeed.
//! - *A model copy per worker process* (#26687): the registry shares one load per process
//!   across workers and steps; `model_copies` is an explicit choice.
//! - *Models never released* (#21443): the registry holds models weakly; a model is dropped when
//!   no engine, cache or running batch uses it, including old versions after a refresh and
//!   models evicted by a [`KeyModelMapping`].
//! - *Inner handlers' batch settings ignored in keyed multi-model handlers*: each inner handler
//!   of a [`KeyModelMapping`] is its own batching group with its own [`BatchConfig`].
//!
//! # Limits
//! A timed-out batch cannot be interrupted (Rust threads cannot be killed): it is abandoned, its
//! elements are dead-lettered when its call finally returns, and `flush` waits for that.

mod clock;
mod config;
mod engine;
mod error;
mod handler;
mod keyed;
mod mapping;
mod metrics;
mod output;
mod process;
mod prometheus;
mod refresh;
mod registry;
#[cfg(feature = "testing")]
pub mod testing;
mod wrapper;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{BatchConfig, Bucketing, RetryPolicy};
pub use engine::{EngineOptions, InferenceEngine};
pub use error::{error_chain, HandlerError};
pub use handler::{ModelHandler, PredictionResult};
pub use keyed::{KeyedModelHandler, MaybeKeyed, MaybeKeyedModelHandler};
pub use mapping::{KeyModelMapping, LoadedModels};
pub use metrics::{Histogram, InferenceMetrics, MetricsReport, ModelReport, ModelStats};
pub use output::{Completed, DeadLetter};
pub use process::{ModelHandlerExt, PostprocessHandler, PreprocessHandler};
pub use refresh::{
    FileStat, FileVersion, FsStat, ModelMetadata, ModelUpdates, ModelWatcher, PathWatcher,
};
pub use registry::{
    Acquired, CopyPolicy, FailurePin, LoadFailed, ModelHandle, ModelLease, ModelManager,
};
pub use wrapper::{HandlerWrapper, InnerExample, InnerModel};
