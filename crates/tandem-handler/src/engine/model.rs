//! The engine's current model: first load, refresh, and leasing a copy for a batch.

use std::sync::Arc;

use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::metrics::InferenceMetrics;
use crate::refresh::ModelMetadata;
use crate::registry::{Acquired, FailurePin, LoadFailed, ModelHandle, ModelLease};

use super::InferenceEngine;

/// What the engine serves with.
pub(crate) enum ModelState<M> {
    /// Nothing asked for yet (loading is lazy so a refresh before the first batch skips it).
    NotLoaded,
    /// Serving.
    Ready(ModelHandle<M>),
    /// The load failed; the pin keeps the failure cached for other workers.
    Failed {
        error: HandlerError,
        model_id: Arc<str>,
        _pin: FailurePin,
    },
}

impl<H: ModelHandler> InferenceEngine<H> {
    /// Loads the model now (e.g. from a `DoFn`'s `setup`) instead of at the first batch, so a
    /// model that cannot load is reported before any element is read.
    pub fn ensure_loaded(&mut self) -> Result<(), HandlerError> {
        if matches!(self.model, ModelState::NotLoaded) {
            let meta = None;
            self.model = self.acquire(&self.handler.model_id(), meta);
        }
        match &self.model {
            ModelState::Ready(_) => Ok(()),
            ModelState::Failed { error, .. } => Err(error.clone()),
            ModelState::NotLoaded => Ok(()),
        }
    }

    /// A copy of the current model for one batch, or the (cached) loading error with the model
    /// id that failed.
    pub(crate) fn lease(&mut self) -> Result<ModelLease<H::Model>, (HandlerError, Arc<str>)> {
        // Loading errors are returned through the state; the result here is ignored on purpose.
        let _ = self.ensure_loaded();
        match &self.model {
            ModelState::Ready(handle) => Ok(handle.lease()),
            ModelState::Failed {
                error, model_id, ..
            } => Err((error.clone(), model_id.clone())),
            ModelState::NotLoaded => {
                let id: Arc<str> = Arc::from(self.handler.model_id());
                Err((
                    HandlerError::load(id.to_string(), "model was not loaded"),
                    id,
                ))
            }
        }
    }

    /// Switches to a newer model version if the update feed has one. A version that fails to
    /// load is recorded once and the current model keeps serving.
    pub(crate) fn check_refresh(&mut self) {
        let Some(updates) = &self.options.updates else {
            return;
        };
        let now = self.options.clock.now();
        let Some((generation, meta)) = updates.newer_than(self.seen_generation, now) else {
            return;
        };
        self.seen_generation = generation;
        match self.acquire(&meta.model_id.clone(), Some(&meta)) {
            ready @ ModelState::Ready(_) => {
                // The old handle is dropped here; batches still running hold their own lease.
                self.model = ready;
                self.last_refresh_error = None;
            }
            ModelState::Failed { error, .. } => {
                self.last_refresh_error = Some(error);
                if matches!(self.model, ModelState::NotLoaded) {
                    let _ = self.ensure_loaded();
                }
            }
            ModelState::NotLoaded => {}
        }
    }

    fn acquire(&self, model_id: &str, meta: Option<&ModelMetadata>) -> ModelState<H::Model> {
        let handler = &self.handler;
        let result = self.options.manager.acquire(
            model_id,
            handler.model_copies(),
            handler.share_across_workers(),
            self.options.copy_policy,
            || match meta {
                Some(meta) => handler.load_model_from(meta),
                None => handler.load_model(),
            },
        );
        let metrics: &InferenceMetrics = &self.options.metrics;
        let ns = &self.namespace;
        match result {
            Ok(Acquired { handle, loaded_in }) => {
                if let Some(took) = loaded_in {
                    let bytes = handler
                        .model_bytes(handle.first())
                        .map(|b| b.saturating_mul(handle.copies() as u64));
                    metrics.record(&self.options.step, model_id, ns, |s| {
                        s.model_loads += 1;
                        s.model_load_seconds += took.as_secs_f64();
                        s.model_bytes = bytes;
                    });
                }
                ModelState::Ready(handle)
            }
            Err(LoadFailed {
                error,
                attempted_here,
                pin,
            }) => {
                if attempted_here {
                    metrics.record(&self.options.step, model_id, ns, |s| s.load_failures += 1);
                }
                ModelState::Failed {
                    error,
                    model_id: Arc::from(model_id),
                    _pin: pin,
                }
            }
        }
    }
}
