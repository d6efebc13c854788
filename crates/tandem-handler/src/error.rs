//! The crate's single error type.
//!
//! Every variant is `Clone` on purpose: one failure is often reported to many parties (a cached
//! loading error handed to every worker that asks for the model, one batch error copied into the
//! dead-letter record of each element of the batch), so errors carry rendered messages rather
//! than boxed sources.

use std::fmt::Display;
use std::time::Duration;

/// What went wrong while loading a model or running inference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// `load_model` failed (or panicked). Cached: everyone asking for the same model id while
    /// the failure is held gets this same error instead of a fresh load attempt.
    #[error("loading model `{model_id}` failed: {reason}")]
    Load { model_id: String, reason: String },

    /// `run_inference` returned an error for a batch.
    #[error("inference failed: {reason}")]
    Inference { reason: String },

    /// `run_inference` panicked; the panic was caught and treated as a failed batch.
    #[error("run_inference panicked: {message}")]
    Panicked { message: String },

    /// `run_inference` returned a different number of predictions than it was given examples.
    /// Beam silently drops or mis-zips predictions in this case (apache/beam#22240); here it is
    /// a failure of the batch.
    #[error("run_inference returned {got} predictions for a batch of {expected} examples")]
    OutputCount { expected: usize, got: usize },

    /// The batch ran longer than the configured batch timeout.
    #[error("batch of {batch_size} timed out after {limit:?}")]
    Timeout { batch_size: usize, limit: Duration },

    /// Two handlers named the same model id but load different model types.
    #[error("model id `{model_id}` is already loaded with a different model type ({existing})")]
    ModelTypeMismatch { model_id: String, existing: String },

    /// A keyed multi-model handler got a key that no inner handler serves.
    #[error("no model is mapped to key {key}")]
    UnknownKey { key: String },

    /// A configuration value is invalid.
    #[error("invalid configuration `{field}`: {reason}")]
    Config { field: &'static str, reason: String },

    /// A remote service stayed unavailable (overloaded, failing, not answering) after the
    /// handler's own retries. Splitting the batch would only send more requests to a service
    /// that is already down, so the batch is dead-lettered whole.
    #[error("service unavailable: {reason}")]
    Unavailable { reason: String },

    /// `run_inference` ran out of memory (host or device; `requested_bytes` is the failed
    /// allocation when the backend reports it). Not a property of the data: the engine does
    /// not retry the same size, splits the batch in halves (dead-lettering an element only if
    /// it runs out of memory alone) and caps that bucket's later batches at half the size
    /// that failed, as Triton and vLLM users expect of a server under memory pressure.
    #[error("out of memory: {reason}")]
    OutOfMemory {
        requested_bytes: Option<u64>,
        reason: String,
    },
}

impl HandlerError {
    /// An inference failure described by any displayable error (its `source()` chain included).
    pub fn inference(err: impl Display) -> Self {
        HandlerError::Inference {
            reason: err.to_string(),
        }
    }

    /// A loading failure for `model_id`.
    pub fn load(model_id: impl Into<String>, err: impl Display) -> Self {
        HandlerError::Load {
            model_id: model_id.into(),
            reason: err.to_string(),
        }
    }

    /// An out-of-memory failure described by `err` (its `source()` chain included).
    pub fn out_of_memory(
        requested_bytes: Option<u64>,
        err: &(dyn std::error::Error + 'static),
    ) -> Self {
        HandlerError::OutOfMemory {
            requested_bytes,
            reason: error_chain(err),
        }
    }

    /// A failed `run_inference` of a model crate: [`HandlerError::OutOfMemory`] when
    /// `out_of_memory_bytes` says a tensor op ran out of memory (the model crate's error
    /// type knows, through its own wrapping), [`HandlerError::Inference`] otherwise; the
    /// reason is `err`'s whole chain either way.
    pub fn from_model_error(
        err: &(dyn std::error::Error + 'static),
        out_of_memory_bytes: Option<u64>,
    ) -> Self {
        match out_of_memory_bytes {
            Some(bytes) => Self::out_of_memory(Some(bytes), err),
            None => Self::from_error(err),
        }
    }

    /// Whether the batch ran out of memory ([`HandlerError::OutOfMemory`]): a smaller batch
    /// may succeed.
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, HandlerError::OutOfMemory { .. })
    }

    /// An inference failure with the whole `source()` chain of `err` rendered into the message.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        HandlerError::Inference {
            reason: error_chain(err),
        }
    }

    /// Whether retrying a smaller part of the batch can change the outcome.
    ///
    /// A model that could not load, a key with no model, a type clash, a hung batch or a remote
    /// service that stays down fail every sub-batch the same way, so bisecting them would only
    /// repeat the failure (and, for loads, report it many times). They are dead-lettered as a
    /// whole instead.
    pub fn is_batch_wide(&self) -> bool {
        matches!(
            self,
            HandlerError::Load { .. }
                | HandlerError::Timeout { .. }
                | HandlerError::ModelTypeMismatch { .. }
                | HandlerError::UnknownKey { .. }
                | HandlerError::Config { .. }
                | HandlerError::Unavailable { .. }
        )
    }
}

/// `err` and its `source()` chain, joined by `: ` (the text the error variants built from
/// another error carry).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Renders a caught panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
