//! Keys routed to different models, at most N of them loaded at once.
//!
//! Beam's `KeyedModelHandler` with several models batches everything with one configuration and
//! ignores the inner handlers' batch settings. Here each inner handler is its own batching group
//! ([`ModelHandler::batch_group`]), so the engine batches each key's elements with that handler's
//! own [`BatchConfig`] and never mixes models in one batch.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::registry::{CopyPolicy, FailurePin, ModelHandle, ModelManager};

/// Routes `(K, Example)` to the inner handler mapped to `K`, keeping at most `max_loaded` inner
/// models loaded; the least recently used is released when another must load.
///
/// The cache itself is the mapping's "model", shared like any model by every worker of the step
/// (under the mapping's model id), so the bound holds for the whole process, not per worker.
/// Inner models go through the same registry, so a model also used by another step is loaded
/// once. Results carry the inner handler's model id.
pub struct KeyModelMapping<K, H> {
    routes: HashMap<K, usize>,
    handlers: Vec<H>,
    max_loaded: usize,
    manager: Arc<ModelManager>,
}

/// The group given to keys no handler serves (their elements are dead-lettered).
const UNROUTED: usize = usize::MAX;

impl<K: Hash + Eq + Debug, H: ModelHandler> KeyModelMapping<K, H> {
    /// An empty mapping that keeps at most `max_loaded` models (at least one) loaded.
    pub fn new(max_loaded: usize) -> Self {
        KeyModelMapping {
            routes: HashMap::new(),
            handlers: Vec::new(),
            max_loaded: max_loaded.max(1),
            manager: ModelManager::global(),
        }
    }

    /// Shares inner models through `manager` instead of the global registry.
    pub fn with_manager(mut self, manager: Arc<ModelManager>) -> Self {
        self.manager = manager;
        self
    }

    /// Routes `keys` to `handler`. A key already routed is an error naming it.
    pub fn route(
        mut self,
        keys: impl IntoIterator<Item = K>,
        handler: H,
    ) -> Result<Self, HandlerError> {
        let index = self.handlers.len();
        for key in keys {
            if self.routes.contains_key(&key) {
                return Err(HandlerError::Config {
                    field: "routes",
                    reason: format!("key {key:?} is routed twice"),
                });
            }
            self.routes.insert(key, index);
        }
        self.handlers.push(handler);
        Ok(self)
    }

    fn group_of(&self, key: &K) -> usize {
        self.routes.get(key).copied().unwrap_or(UNROUTED)
    }
}

enum Loaded<M> {
    Ready(ModelHandle<M>),
    /// The pin keeps the failure cached in the registry for other users of the model id.
    Failed {
        error: HandlerError,
        _pin: FailurePin,
    },
}

struct LruState<M> {
    /// Per inner handler: its model (or cached failure) and when it was last used.
    entries: HashMap<usize, (Loaded<M>, u64)>,
    tick: u64,
    loads: u64,
    evictions: u64,
}

/// The "model" of a [`KeyModelMapping`]: the inner models currently loaded, least recently used
/// first to go. A failed load is cached (and counts against nothing) until evicted by a reload.
pub struct LoadedModels<M> {
    state: Mutex<LruState<M>>,
    max_loaded: usize,
}

impl<M> LoadedModels<M> {
    /// Model ids currently loaded, sorted.
    pub fn loaded_ids(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<String> = state
            .entries
            .values()
            .filter_map(|(l, _)| match l {
                Loaded::Ready(h) => Some(h.model_id().to_string()),
                Loaded::Failed { .. } => None,
            })
            .collect();
        ids.sort();
        ids
    }

    /// (loads, evictions) so far.
    pub fn load_counts(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.loads, state.evictions)
    }
}

impl<K, H> KeyModelMapping<K, H>
where
    K: Hash + Eq + Debug + Send + Sync + 'static,
    H: ModelHandler,
{
    /// The model of handler `index`, loading it (and evicting the least recently used) if
    /// needed. Loading happens under the cache lock so the bound holds across workers.
    fn model_for(
        &self,
        models: &LoadedModels<H::Model>,
        index: usize,
    ) -> Result<ModelHandle<H::Model>, HandlerError> {
        let mut state = models.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tick += 1;
        let tick = state.tick;
        if let Some((loaded, used)) = state.entries.get_mut(&index) {
            *used = tick;
            return match loaded {
                Loaded::Ready(handle) => Ok(handle.clone()),
                Loaded::Failed { error, .. } => Err(error.clone()),
            };
        }
        loop {
            let ready = state
                .entries
                .values()
                .filter(|(l, _)| matches!(l, Loaded::Ready(_)));
            if ready.count() < models.max_loaded {
                break;
            }
            let oldest = state
                .entries
                .iter()
                .filter(|(_, (l, _))| matches!(l, Loaded::Ready(_)))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(i, _)| *i);
            let Some(oldest) = oldest else { break };
            state.entries.remove(&oldest);
            state.evictions += 1;
        }
        let inner = &self.handlers[index];
        let acquired = self.manager.acquire(
            &inner.model_id(),
            inner.model_copies(),
            inner.share_across_workers(),
            CopyPolicy::default(),
            || inner.load_model(),
        );
        state.loads += 1;
        match acquired {
            Ok(acquired) => {
                let handle = acquired.handle;
                state
                    .entries
                    .insert(index, (Loaded::Ready(handle.clone()), tick));
                Ok(handle)
            }
            Err(failed) => {
                let error = failed.error.clone();
                state.entries.insert(
                    index,
                    (
                        Loaded::Failed {
                            error: failed.error,
                            _pin: failed.pin,
                        },
                        tick,
                    ),
                );
                Err(error)
            }
        }
    }
}

impl<K, H> ModelHandler for KeyModelMapping<K, H>
where
    K: Hash + Eq + Debug + Send + Sync + 'static,
    H: ModelHandler,
{
    type Example = (K, H::Example);
    type Prediction = H::Prediction;
    type Model = LoadedModels<H::Model>;
    type Args = H::Args;

    /// An empty cache: inner models load on first use.
    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        Ok(LoadedModels {
            state: Mutex::new(LruState {
                entries: HashMap::new(),
                tick: 0,
                loads: 0,
                evictions: 0,
            }),
            max_loaded: self.max_loaded,
        })
    }

    /// The engine never mixes groups in a batch; a batch mixing them anyway (a direct call) is
    /// served group by group, in order.
    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError> {
        let mut predictions = Vec::with_capacity(batch.len());
        let mut start = 0;
        while start < batch.len() {
            let group = self.group_of(&batch[start].0);
            let end = batch[start..]
                .iter()
                .position(|(k, _)| self.group_of(k) != group)
                .map_or(batch.len(), |p| start + p);
            if group == UNROUTED {
                return Err(HandlerError::UnknownKey {
                    key: format!("{:?}", batch[start].0),
                });
            }
            let handle = self.model_for(model, group)?;
            let lease = handle.lease();
            let inner: Vec<&H::Example> = batch[start..end].iter().map(|(_, e)| e).collect();
            predictions.extend(self.handlers[group].run_inference(
                &inner,
                lease.model(),
                inference_args,
            )?);
            start = end;
        }
        Ok(predictions)
    }

    fn model_id(&self) -> String {
        let ids: Vec<String> = self.handlers.iter().map(ModelHandler::model_id).collect();
        format!("key-model-mapping[{}]", ids.join(","))
    }

    fn metrics_namespace(&self) -> String {
        self.handlers
            .first()
            .map_or_else(|| "tandem_inference".into(), H::metrics_namespace)
    }

    fn element_weight(&self, example: &Self::Example) -> u64 {
        match self.handlers.get(self.group_of(&example.0)) {
            Some(h) => h.element_weight(&example.1),
            None => 1,
        }
    }

    fn element_length(&self, example: &Self::Example) -> Option<usize> {
        self.handlers
            .get(self.group_of(&example.0))
            .and_then(|h| h.element_length(&example.1))
    }

    fn batch_group(&self, example: &Self::Example) -> usize {
        self.group_of(&example.0)
    }

    fn group_batch_config(&self, group: usize) -> BatchConfig {
        self.handlers
            .get(group)
            .map_or_else(BatchConfig::default, ModelHandler::batch_config)
    }

    fn group_model_id(&self, group: usize) -> Option<String> {
        Some(match self.handlers.get(group) {
            Some(h) => h.model_id(),
            None => "unrouted".to_string(),
        })
    }
}
