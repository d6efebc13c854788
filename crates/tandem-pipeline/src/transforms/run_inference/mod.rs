//! `RunInference`: batched model inference as a pipeline step, a thin adapter over
//! [`tandem_handler::InferenceEngine`].
//!
//! Each worker of the step owns one engine (dynamic batching, bisection of failed batches,
//! model refresh); all workers, and other steps naming the same model id, share one loaded
//! model through a [`ModelManager`]. Elements the engine cannot serve go to the step's
//! dead-letter output ([`Applied::dead_letters`]) as [`Failed`](crate::Failed) records whose
//! `error` names the model id and the error; without that output the first one fails the run,
//! as for every other step. The step is exactly accounted: in = out + dead-lettered.
//!
//! Batches never span bundles: the runner's `finish_bundle` (which also marks the end of the
//! input) flushes the engine, so a batch holds at most a bundle's worth of one worker's
//! elements. Raise the runner's bundle size (`LocalRunner::with_bundle_size`) for batches larger
//! than its default of 64.
//!
//! Inference metrics (per step and model id) are collected into
//! [`RunReport::inference`](crate::RunReport::inference), under the step's final name.

mod dofn;
mod live;
mod step_handler;

pub use live::LiveInferenceMetrics;

use std::sync::Arc;

use tandem_handler::{
    BatchConfig, Clock, CopyPolicy, EngineOptions, InferenceMetrics, MetricsReport, ModelHandler,
    ModelManager, ModelUpdates, PredictionResult,
};

use crate::element::Elem;
use crate::graph::{Accounting, Graph};
use crate::metrics::RunReport;
use crate::pcollection::{Applied, PCollection};
use crate::transforms::par_do::apply_dofn;

use dofn::InferenceDoFn;
use step_handler::StepHandler;

/// A configured RunInference step, applied with [`PCollection::run_inference`].
///
/// Defaults: the handler's own [`BatchConfig`], the process-wide [`ModelManager::global`], the
/// system clock, no model refresh, the engine's default buffer bound (four times the maximum
/// batch size per worker).
pub struct RunInference<H: ModelHandler> {
    handler: H,
    args: H::Args,
    batch_config: Option<BatchConfig>,
    manager: Option<Arc<ModelManager>>,
    updates: Option<ModelUpdates>,
    clock: Option<Arc<dyn Clock>>,
    max_buffered: Option<usize>,
    copy_policy: Option<CopyPolicy>,
}

impl<H: ModelHandler> RunInference<H>
where
    H::Args: Default,
{
    /// Runs `handler` with default `inference_args`.
    pub fn new(handler: H) -> Self {
        Self::with_inference_args(handler, H::Args::default())
    }
}

impl<H: ModelHandler> From<H> for RunInference<H>
where
    H::Args: Default,
{
    fn from(handler: H) -> Self {
        Self::new(handler)
    }
}

impl<H: ModelHandler> RunInference<H> {
    /// Runs `handler`, passing `inference_args` (generation settings, thresholds) to every
    /// `run_inference` call of every worker.
    pub fn with_inference_args(handler: H, inference_args: H::Args) -> Self {
        RunInference {
            handler,
            args: inference_args,
            batch_config: None,
            manager: None,
            updates: None,
            clock: None,
            max_buffered: None,
            copy_policy: None,
        }
    }

    /// Replaces the handler's batch settings for this step. Groups served by other models (the
    /// inner handlers of a `KeyModelMapping`) keep their own settings. An invalid configuration
    /// fails the run at setup with the field and the reason.
    pub fn batch_config(mut self, config: BatchConfig) -> Self {
        self.batch_config = Some(config);
        self
    }

    /// Shares models through `manager` instead of the process-wide one (e.g. to bound what a
    /// group of steps holds, or to isolate tests).
    pub fn model_manager(mut self, manager: Arc<ModelManager>) -> Self {
        self.manager = Some(manager);
        self
    }

    /// Follows model refreshes published on `updates` (every worker sees the same versions;
    /// results name the version that served them).
    pub fn model_updates(mut self, updates: ModelUpdates) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Uses `clock` for batch deadlines, latencies and retry back-off. The runner's timers run
    /// on real time, so a manual clock only makes sense where deadlines do not matter.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Bounds the elements each worker's engine holds while batching.
    pub fn max_buffered(mut self, elements: usize) -> Self {
        self.max_buffered = Some(elements);
        self
    }

    /// Spreads batches over the handler's model copies with `policy`.
    pub fn copy_policy(mut self, policy: CopyPolicy) -> Self {
        self.copy_policy = Some(policy);
        self
    }

    fn into_dofn(self, step: &str, metrics: InferenceMetrics) -> InferenceDoFn<H> {
        let mut options = EngineOptions::new(step).with_metrics(metrics);
        if let Some(manager) = self.manager {
            options = options.with_manager(manager);
        }
        if let Some(updates) = self.updates {
            options = options.with_updates(updates);
        }
        if let Some(clock) = self.clock {
            options = options.with_clock(clock);
        }
        if let Some(max) = self.max_buffered {
            options = options.with_max_buffered(max);
        }
        if let Some(policy) = self.copy_policy {
            options = options.with_copy_policy(policy);
        }
        InferenceDoFn {
            handler: Arc::new(StepHandler {
                inner: self.handler,
                batch_config: self.batch_config,
            }),
            args: Arc::new(self.args),
            options,
            load_failure: Arc::default(),
            engine: None,
            in_flight: Default::default(),
        }
    }
}

impl<T: Elem> PCollection<T> {
    /// Runs a model over every element: one [`PredictionResult`] per served element on the main
    /// output, unservable elements on [`Applied::dead_letters`]. `run` is a handler (when its
    /// `Args` have a default) or a configured [`RunInference`]. Keyed inputs `(K, T)` use
    /// `handler.keyed()` ([`tandem_handler::ModelHandlerExt`]); the key rides in the result's
    /// example. Set the number of workers with [`Applied::with_parallelism`].
    pub fn run_inference<H>(
        &self,
        name: impl Into<String>,
        run: impl Into<RunInference<H>>,
    ) -> Applied<T, PredictionResult<T, H::Prediction>>
    where
        H: ModelHandler<Example = T>,
        H::Prediction: Elem,
    {
        let name = name.into();
        let metrics = InferenceMetrics::new();
        let dofn = run.into().into_dofn(&name, metrics.clone());
        let applied = apply_dofn(self, name, dofn, Accounting::Exact);
        let mut graph = self.pipeline.graph();
        if let Some(step) = graph.collections.get(applied.id).map(|c| c.producer) {
            graph.inference_metrics.push((step, metrics));
        }
        drop(graph);
        applied
    }
}

/// The inference metrics of every RunInference step of `graph`, each row labelled with the
/// step's final name (it may have been renamed or made unique after the step was added).
pub(crate) fn collect_metrics(graph: &Graph) -> MetricsReport {
    let mut models = Vec::new();
    for (step, metrics) in &graph.inference_metrics {
        let Some(name) = graph.steps.get(*step).map(|s| &s.name) else {
            continue;
        };
        for mut row in metrics.report().models {
            row.step = name.clone();
            models.push(row);
        }
    }
    models.sort_by(|a, b| (&a.step, &a.model_id).cmp(&(&b.step, &b.model_id)));
    MetricsReport { models }
}

impl RunReport {
    /// The inference metrics in the Prometheus text format (see
    /// [`MetricsReport::to_prometheus`]).
    pub fn inference_prometheus(&self) -> String {
        self.inference.to_prometheus()
    }
}
