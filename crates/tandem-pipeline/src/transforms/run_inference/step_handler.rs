//! The handler a RunInference step actually drives: the user's handler plus the step's
//! overrides (batch settings) and its shared `inference_args`.
//!
//! Wrapping instead of copying settings into the engine keeps `tandem-handler` unaware of
//! pipelines, and lets every worker's engine share one handler and one args value behind an
//! `Arc` without requiring `Args: Clone`. Examples travel through the engine [`Stamped`] with
//! their event time and window, so a result leaving a batch later keeps its own.

use std::sync::Arc;

use tandem_handler::{BatchConfig, HandlerError, ModelHandler, ModelMetadata};

use crate::timestamp::Timestamp;
use crate::window::Window;

/// An example with the event time and window of the element it came from.
#[derive(Clone, Debug)]
pub(crate) struct Stamped<E> {
    pub(crate) value: E,
    pub(crate) timestamp: Timestamp,
    pub(crate) window: Window,
}

/// `H` with an optional batch-configuration override; its `Args` are `Arc<H::Args>` so each
/// worker's engine holds a pointer to the one value the step was given.
pub(crate) struct StepHandler<H> {
    pub(crate) inner: H,
    pub(crate) batch_config: Option<BatchConfig>,
}

impl<H: ModelHandler> ModelHandler for StepHandler<H> {
    type Example = Stamped<H::Example>;
    type Prediction = H::Prediction;
    type Model = H::Model;
    type Args = Arc<H::Args>;

    fn load_model(&self) -> Result<H::Model, HandlerError> {
        self.inner.load_model()
    }

    fn run_inference(
        &self,
        batch: &[&Stamped<H::Example>],
        model: &H::Model,
        inference_args: &Arc<H::Args>,
    ) -> Result<Vec<H::Prediction>, HandlerError> {
        let values: Vec<&H::Example> = batch.iter().map(|s| &s.value).collect();
        self.inner.run_inference(&values, model, inference_args)
    }

    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<H::Model, HandlerError> {
        self.inner.load_model_from(metadata)
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch_config
            .clone()
            .unwrap_or_else(|| self.inner.batch_config())
    }

    fn model_id(&self) -> String {
        self.inner.model_id()
    }

    fn model_bytes(&self, model: &H::Model) -> Option<u64> {
        self.inner.model_bytes(model)
    }

    fn metrics_namespace(&self) -> String {
        self.inner.metrics_namespace()
    }

    fn share_across_workers(&self) -> bool {
        self.inner.share_across_workers()
    }

    fn model_copies(&self) -> usize {
        self.inner.model_copies()
    }

    fn element_weight(&self, example: &Stamped<H::Example>) -> u64 {
        self.inner.element_weight(&example.value)
    }

    fn element_length(&self, example: &Stamped<H::Example>) -> Option<usize> {
        self.inner.element_length(&example.value)
    }

    fn batch_group(&self, example: &Stamped<H::Example>) -> usize {
        self.inner.batch_group(&example.value)
    }

    /// The override replaces the handler's own settings, but not those of a group served by
    /// another model (an inner handler of a `KeyModelMapping`): each of those keeps its own
    /// batch configuration, as the issue requires.
    fn group_batch_config(&self, group: usize) -> BatchConfig {
        match &self.batch_config {
            Some(cfg) if self.inner.group_model_id(group).is_none() => cfg.clone(),
            _ => self.inner.group_batch_config(group),
        }
    }

    fn group_model_id(&self, group: usize) -> Option<String> {
        self.inner.group_model_id(group)
    }
}
