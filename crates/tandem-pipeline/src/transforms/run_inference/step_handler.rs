//! The handler a RunInference step actually drives: the user's handler plus the step's
//! overrides (batch settings) and its shared `inference_args`.
//!
//! Wrapping instead of copying settings into the engine keeps `tandem-handler` unaware of
//! pipelines, and lets every worker's engine share one handler and one args value behind an
//! `Arc` without requiring `Args: Clone`. Examples travel through the engine [`Stamped`] with
//! their event time and window, so a result leaving a batch later keeps its own.

use std::sync::Arc;

use tandem_handler::{BatchConfig, HandlerError, HandlerWrapper, ModelHandler};

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

/// Everything not overridden here is the inner handler's ([`HandlerWrapper`]).
impl<H: ModelHandler> HandlerWrapper for StepHandler<H> {
    type Inner = H;
    type Example = Stamped<H::Example>;
    type Prediction = H::Prediction;
    type Args = Arc<H::Args>;

    fn inner(&self) -> &H {
        &self.inner
    }

    fn inner_example<'a>(&self, example: &'a Stamped<H::Example>) -> Option<&'a H::Example> {
        Some(&example.value)
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

    fn batch_config(&self) -> BatchConfig {
        self.batch_config
            .clone()
            .unwrap_or_else(|| self.inner.batch_config())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_handler::testing::{assert_forwards_probe, Probe};

    fn stamped(n: u32) -> Stamped<u32> {
        Stamped {
            value: n,
            timestamp: Timestamp::MIN,
            window: Window::Global,
        }
    }

    /// Arc'd args: the probe's `u32` args are seen through `Arc<u32>`.
    struct ArcArgs(StepHandler<Probe>);

    impl HandlerWrapper for ArcArgs {
        type Inner = StepHandler<Probe>;
        type Example = Stamped<u32>;
        type Prediction = u32;
        type Args = u32;

        fn inner(&self) -> &StepHandler<Probe> {
            &self.0
        }
        fn inner_example<'a>(&self, example: &'a Stamped<u32>) -> Option<&'a Stamped<u32>> {
            Some(example)
        }
        fn run_inference(
            &self,
            batch: &[&Stamped<u32>],
            model: &String,
            inference_args: &u32,
        ) -> Result<Vec<u32>, HandlerError> {
            ModelHandler::run_inference(&self.0, batch, model, &Arc::new(*inference_args))
        }
    }

    #[test]
    fn a_step_forwards_every_method_of_its_handler() {
        let step = ArcArgs(StepHandler {
            inner: Probe,
            batch_config: None,
        });
        assert_forwards_probe("step", &step, stamped, true);
    }

    #[test]
    fn a_step_override_replaces_only_the_handlers_own_batch_settings() {
        let cfg = BatchConfig {
            max_batch_size: 2,
            ..Default::default()
        };
        let step = StepHandler {
            inner: Probe,
            batch_config: Some(cfg.clone()),
        };
        assert_eq!(ModelHandler::batch_config(&step), cfg);
        // The probe's groups are served by models of their own: they keep their settings.
        assert_eq!(
            ModelHandler::group_batch_config(&step, 1),
            Probe::group_batch(1)
        );
        assert_eq!(ModelHandler::model_id(&step), "probe");
        assert_eq!(ModelHandler::element_weight(&step, &stamped(3)), 1003);
    }
}
