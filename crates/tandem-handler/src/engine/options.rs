//! Everything an engine takes besides its handler and inference args.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::metrics::InferenceMetrics;
use crate::refresh::ModelUpdates;
use crate::registry::{CopyPolicy, ModelManager};

/// Settings of one [`crate::InferenceEngine`]. Give every worker of a step clones of the same
/// `metrics` and `updates` so their counters and model versions are the step's.
#[derive(Clone)]
pub struct EngineOptions {
    /// Step name, the `step` label of metrics.
    pub step: String,
    /// Time source for deadlines, latencies and back-off.
    pub clock: Arc<dyn Clock>,
    /// Where models are shared. Default: [`ModelManager::global`].
    pub manager: Arc<ModelManager>,
    /// Where counters go.
    pub metrics: InferenceMetrics,
    /// Model refresh feed, if the model can change while running.
    pub updates: Option<ModelUpdates>,
    /// Upper bound on elements waiting in buckets; past it the oldest bucket runs early.
    /// Default (`None`): four times the handler's `max_batch_size`.
    pub max_buffered: Option<usize>,
    /// How batches are spread over model copies.
    pub copy_policy: CopyPolicy,
}

impl EngineOptions {
    /// Defaults for a step named `step`: system clock, global registry, fresh metrics.
    pub fn new(step: impl Into<String>) -> Self {
        EngineOptions {
            step: step.into(),
            clock: Arc::new(SystemClock),
            manager: ModelManager::global(),
            metrics: InferenceMetrics::new(),
            updates: None,
            max_buffered: None,
            copy_policy: CopyPolicy::default(),
        }
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `manager` to share models.
    pub fn with_manager(mut self, manager: Arc<ModelManager>) -> Self {
        self.manager = manager;
        self
    }

    /// Records into `metrics`.
    pub fn with_metrics(mut self, metrics: InferenceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Follows model updates from `updates`.
    pub fn with_updates(mut self, updates: ModelUpdates) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Bounds waiting elements.
    pub fn with_max_buffered(mut self, max_buffered: usize) -> Self {
        self.max_buffered = Some(max_buffered);
        self
    }

    /// Spreads batches over copies with `policy`.
    pub fn with_copy_policy(mut self, policy: CopyPolicy) -> Self {
        self.copy_policy = policy;
        self
    }
}
