//! Loaded models, shared per process and released when unused.
//!
//! Beam loads a model per worker process (apache/beam#26687) and keeps models alive for the life
//! of the worker (#21443). Here a [`ModelManager`] holds, per model id, only a *weak* reference
//! to the loaded copies: every engine or multi-model cache that uses a model holds a
//! [`ModelHandle`] (strong), so the model is loaded once while anyone uses it and freed as soon as
//! the last handle and the last in-flight [`ModelLease`] are gone.

use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::error::{panic_message, HandlerError};

/// How batches are spread over the copies of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyPolicy {
    /// Copies in turn.
    RoundRobin,
    /// The copy with the fewest batches in flight (ties in turn).
    #[default]
    LeastBusy,
}

type Erased = Arc<dyn Any + Send + Sync>;

/// One model id's loading outcome. Kept alive by handles and by [`LoadFailed`] pins.
struct Slot {
    model_id: String,
    outcome: OnceLock<Result<(Erased, &'static str), HandlerError>>,
}

/// The registry of loaded models. Use [`ModelManager::global`] for process-wide sharing, or
/// a fresh one to isolate tests.
#[derive(Default)]
pub struct ModelManager {
    slots: Mutex<HashMap<String, Weak<Slot>>>,
}

/// The outcome of a successful [`ModelManager::acquire`].
pub struct Acquired<M> {
    /// The handle to lease copies from.
    pub handle: ModelHandle<M>,
    /// `Some(time)` when this call did the loading (so it is counted once in metrics).
    pub loaded_in: Option<Duration>,
}

/// A failed acquisition: the error, plus a pin that keeps the failure cached so other workers
/// asking for the same model id get the same error instead of loading again.
pub struct LoadFailed {
    /// What went wrong.
    pub error: HandlerError,
    /// Whether this call made the failed attempt (so it is reported once).
    pub attempted_here: bool,
    /// Holding this keeps the cached failure; dropping it allows a later retry.
    pub pin: FailurePin,
}

/// Keeps a cached loading failure alive (see [`LoadFailed`]).
pub struct FailurePin {
    _slot: Arc<Slot>,
}

impl std::fmt::Debug for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadFailed")
            .field("error", &self.error)
            .finish()
    }
}

impl ModelManager {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry.
    pub fn global() -> Arc<ModelManager> {
        static GLOBAL: OnceLock<Arc<ModelManager>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(ModelManager::new())).clone()
    }

    /// Returns the shared copies of `model_id`, loading them with `load` (called `copies` times)
    /// if nobody holds them. Concurrent callers for the same id wait for one load. When `shared`
    /// is false the model is loaded privately for this caller.
    pub fn acquire<M, F>(
        &self,
        model_id: &str,
        copies: usize,
        shared: bool,
        policy: CopyPolicy,
        mut load: F,
    ) -> Result<Acquired<M>, LoadFailed>
    where
        M: Send + Sync + 'static,
        F: FnMut() -> Result<M, HandlerError>,
    {
        let slot = if shared {
            self.slot(model_id)
        } else {
            new_slot(model_id)
        };
        let mut loaded_in = None;
        let outcome = slot.outcome.get_or_init(|| {
            let started = Instant::now();
            let result = load_copies(model_id, copies.max(1), policy, &mut load);
            loaded_in = Some(started.elapsed());
            result
        });
        match outcome {
            Ok((erased, type_name)) => match erased.clone().downcast::<ModelCopies<M>>() {
                Ok(copies) => Ok(Acquired {
                    handle: ModelHandle {
                        copies,
                        _slot: slot.clone(),
                    },
                    loaded_in,
                }),
                Err(_) => Err(LoadFailed {
                    error: HandlerError::ModelTypeMismatch {
                        model_id: model_id.to_string(),
                        existing: (*type_name).to_string(),
                    },
                    attempted_here: false,
                    pin: FailurePin {
                        _slot: slot.clone(),
                    },
                }),
            },
            Err(error) => Err(LoadFailed {
                error: error.clone(),
                attempted_here: loaded_in.is_some(),
                pin: FailurePin {
                    _slot: slot.clone(),
                },
            }),
        }
    }

    /// Model ids currently loaded (or with a cached failure) and still referenced.
    pub fn loaded_ids(&self) -> Vec<String> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|_, weak| weak.strong_count() > 0);
        let mut ids: Vec<String> = slots
            .values()
            .filter_map(Weak::upgrade)
            .filter(|s| matches!(s.outcome.get(), Some(Ok(_))))
            .map(|s| s.model_id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn slot(&self, model_id: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(model_id).and_then(Weak::upgrade) {
            return slot;
        }
        slots.retain(|_, weak| weak.strong_count() > 0);
        let slot = new_slot(model_id);
        slots.insert(model_id.to_string(), Arc::downgrade(&slot));
        slot
    }
}

fn new_slot(model_id: &str) -> Arc<Slot> {
    Arc::new(Slot {
        model_id: model_id.to_string(),
        outcome: OnceLock::new(),
    })
}

fn load_copies<M, F>(
    model_id: &str,
    copies: usize,
    policy: CopyPolicy,
    load: &mut F,
) -> Result<(Erased, &'static str), HandlerError>
where
    M: Send + Sync + 'static,
    F: FnMut() -> Result<M, HandlerError>,
{
    let mut models = Vec::with_capacity(copies);
    for _ in 0..copies {
        let model = match catch_unwind(AssertUnwindSafe(&mut *load)) {
            Ok(Ok(model)) => model,
            Ok(Err(HandlerError::Load { reason, .. })) => {
                return Err(HandlerError::load(model_id, reason))
            }
            Ok(Err(other)) => return Err(HandlerError::load(model_id, other)),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                return Err(HandlerError::load(
                    model_id,
                    format!("load_model panicked: {message}"),
                ));
            }
        };
        models.push(Arc::new(model));
    }
    let copies = ModelCopies {
        model_id: Arc::from(model_id),
        busy: models.iter().map(|_| AtomicUsize::new(0)).collect(),
        models,
        next: AtomicUsize::new(0),
        policy,
    };
    Ok((Arc::new(copies) as Erased, std::any::type_name::<M>()))
}

/// The loaded copies of one model.
pub struct ModelCopies<M> {
    model_id: Arc<str>,
    models: Vec<Arc<M>>,
    busy: Vec<AtomicUsize>,
    next: AtomicUsize,
    policy: CopyPolicy,
}

/// A strong reference to a loaded model; the model stays loaded while a handle exists.
pub struct ModelHandle<M> {
    copies: Arc<ModelCopies<M>>,
    _slot: Arc<Slot>,
}

impl<M> std::fmt::Debug for ModelHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHandle")
            .field("model_id", &self.copies.model_id)
            .field("copies", &self.copies.models.len())
            .finish()
    }
}

impl<M> std::fmt::Debug for Acquired<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquired")
            .field("handle", &self.handle)
            .field("loaded_in", &self.loaded_in)
            .finish()
    }
}

impl<M> Clone for ModelHandle<M> {
    fn clone(&self) -> Self {
        ModelHandle {
            copies: self.copies.clone(),
            _slot: self._slot.clone(),
        }
    }
}

impl<M> ModelHandle<M> {
    /// The model id the copies were loaded under.
    pub fn model_id(&self) -> &Arc<str> {
        &self.copies.model_id
    }

    /// How many copies are loaded.
    pub fn copies(&self) -> usize {
        self.copies.models.len()
    }

    /// Picks a copy for one batch. The lease marks the copy busy until dropped and keeps it
    /// alive even if the handle is swapped out by a refresh meanwhile.
    pub fn lease(&self) -> ModelLease<M> {
        let c = &self.copies;
        let n = c.models.len();
        let start = c.next.fetch_add(1, Ordering::Relaxed) % n;
        let index = match c.policy {
            CopyPolicy::RoundRobin => start,
            CopyPolicy::LeastBusy => (0..n)
                .map(|i| (start + i) % n)
                .min_by_key(|&i| c.busy[i].load(Ordering::Relaxed))
                .unwrap_or(start),
        };
        c.busy[index].fetch_add(1, Ordering::Relaxed);
        ModelLease {
            copies: c.clone(),
            index,
        }
    }

    /// Batches in flight per copy.
    pub fn busy(&self) -> Vec<usize> {
        self.copies
            .busy
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// The first copy, for inspection (e.g. [`crate::ModelHandler::model_bytes`]).
    pub fn first(&self) -> &M {
        &self.copies.models[0]
    }
}

/// One copy of a model, held for the duration of one batch.
pub struct ModelLease<M> {
    copies: Arc<ModelCopies<M>>,
    index: usize,
}

impl<M> ModelLease<M> {
    /// The leased model.
    pub fn model(&self) -> &M {
        &self.copies.models[self.index]
    }
    /// Which copy this is.
    pub fn copy_index(&self) -> usize {
        self.index
    }
    /// The model id served.
    pub fn model_id(&self) -> &Arc<str> {
        &self.copies.model_id
    }
}

impl<M> Drop for ModelLease<M> {
    fn drop(&mut self) {
        self.copies.busy[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
