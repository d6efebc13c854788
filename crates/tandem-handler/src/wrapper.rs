//! [`HandlerWrapper`]: the one place the [`ModelHandler`] contract is forwarded from a wrapper
//! to the handler it wraps.
//!
//! Every wrapper (keyed, maybe-keyed, pre/post-processing, a pipeline step's overrides)
//! implements this trait instead of [`ModelHandler`]; the blanket impl below turns it into a
//! `ModelHandler` whose methods default to the inner handler's. A method added to the contract
//! is added here once, so no wrapper can silently drop it (as pre-processing once dropped the
//! inner handler's group settings).

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::refresh::ModelMetadata;

/// The inner handler's example type.
pub type InnerExample<W> = <<W as HandlerWrapper>::Inner as ModelHandler>::Example;
/// The inner handler's model type (a wrapper serves the same loaded model).
pub type InnerModel<W> = <<W as HandlerWrapper>::Inner as ModelHandler>::Model;

/// A handler built around one inner handler and serving the inner handler's model.
///
/// Required: the inner handler, how an example maps to the inner handler's example, and
/// `run_inference`. Every other [`ModelHandler`] method has a default that forwards to
/// [`HandlerWrapper::inner`]; a wrapper overrides only what it changes. Implementing this trait
/// implements [`ModelHandler`] (blanket impl), so call the methods through `ModelHandler`
/// (with both traits in scope a plain method call is ambiguous).
///
/// ```
/// use tandem_handler::{HandlerError, HandlerWrapper, InnerExample, InnerModel, ModelHandler};
///
/// /// Doubles every prediction of an `f32` handler, keeping all its settings.
/// struct Doubled<H>(H);
///
/// impl<H: ModelHandler<Prediction = f32>> HandlerWrapper for Doubled<H> {
///     type Inner = H;
///     type Example = H::Example;
///     type Prediction = f32;
///     type Args = H::Args;
///
///     fn inner(&self) -> &H {
///         &self.0
///     }
///     fn inner_example<'a>(&self, example: &'a H::Example) -> Option<&'a H::Example> {
///         Some(example)
///     }
///     fn run_inference(
///         &self,
///         batch: &[&H::Example],
///         model: &H::Model,
///         args: &H::Args,
///     ) -> Result<Vec<f32>, HandlerError> {
///         Ok(self.0.run_inference(batch, model, args)?.into_iter().map(|p| 2.0 * p).collect())
///     }
/// }
/// ```
pub trait HandlerWrapper: Send + Sync + 'static {
    /// The wrapped handler.
    type Inner: ModelHandler;
    /// The wrapper's example type.
    type Example: Send + 'static;
    /// The wrapper's prediction type.
    type Prediction: Send + 'static;
    /// The wrapper's `inference_args` type.
    type Args: Send + Sync + 'static;

    /// The wrapped handler.
    fn inner(&self) -> &Self::Inner;

    /// The inner handler's example inside `example`, for the per-example methods
    /// (`element_weight`, `element_length`, `batch_group`). `None` when it does not exist
    /// before the batch call (pre-processing): those methods then use the contract's
    /// defaults (weight 1, no length, group 0).
    fn inner_example<'a>(&self, example: &'a Self::Example) -> Option<&'a InnerExample<Self>>;

    /// See [`ModelHandler::run_inference`].
    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &InnerModel<Self>,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError>;

    /// See [`ModelHandler::load_model`]. Default: the inner handler's.
    fn load_model(&self) -> Result<InnerModel<Self>, HandlerError> {
        self.inner().load_model()
    }

    /// See [`ModelHandler::load_model_from`]. Default: the inner handler's.
    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<InnerModel<Self>, HandlerError> {
        self.inner().load_model_from(metadata)
    }

    /// See [`ModelHandler::batch_config`]. Default: the inner handler's.
    fn batch_config(&self) -> BatchConfig {
        self.inner().batch_config()
    }

    /// See [`ModelHandler::model_id`]. Default: the inner handler's.
    fn model_id(&self) -> String {
        self.inner().model_id()
    }

    /// See [`ModelHandler::model_bytes`]. Default: the inner handler's.
    fn model_bytes(&self, model: &InnerModel<Self>) -> Option<u64> {
        self.inner().model_bytes(model)
    }

    /// See [`ModelHandler::metrics_namespace`]. Default: the inner handler's.
    fn metrics_namespace(&self) -> String {
        self.inner().metrics_namespace()
    }

    /// See [`ModelHandler::share_across_workers`]. Default: the inner handler's.
    fn share_across_workers(&self) -> bool {
        self.inner().share_across_workers()
    }

    /// See [`ModelHandler::model_copies`]. Default: the inner handler's.
    fn model_copies(&self) -> usize {
        self.inner().model_copies()
    }

    /// See [`ModelHandler::element_weight`]. Default: the inner handler's for the inner
    /// example, 1 without one.
    fn element_weight(&self, example: &Self::Example) -> u64 {
        self.inner_example(example)
            .map_or(1, |e| self.inner().element_weight(e))
    }

    /// See [`ModelHandler::element_length`]. Default: the inner handler's for the inner
    /// example, `None` without one.
    fn element_length(&self, example: &Self::Example) -> Option<usize> {
        self.inner_example(example)
            .and_then(|e| self.inner().element_length(e))
    }

    /// See [`ModelHandler::batch_group`]. Default: the inner handler's for the inner example,
    /// 0 without one.
    fn batch_group(&self, example: &Self::Example) -> usize {
        self.inner_example(example)
            .map_or(0, |e| self.inner().batch_group(e))
    }

    /// See [`ModelHandler::group_batch_config`]. Default: the inner handler's.
    fn group_batch_config(&self, group: usize) -> BatchConfig {
        self.inner().group_batch_config(group)
    }

    /// See [`ModelHandler::group_model_id`]. Default: the inner handler's.
    fn group_model_id(&self, group: usize) -> Option<String> {
        self.inner().group_model_id(group)
    }
}

impl<W: HandlerWrapper> ModelHandler for W {
    type Example = W::Example;
    type Prediction = W::Prediction;
    type Model = InnerModel<W>;
    type Args = W::Args;

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        HandlerWrapper::load_model(self)
    }
    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError> {
        HandlerWrapper::run_inference(self, batch, model, inference_args)
    }
    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<Self::Model, HandlerError> {
        HandlerWrapper::load_model_from(self, metadata)
    }
    fn batch_config(&self) -> BatchConfig {
        HandlerWrapper::batch_config(self)
    }
    fn model_id(&self) -> String {
        HandlerWrapper::model_id(self)
    }
    fn model_bytes(&self, model: &Self::Model) -> Option<u64> {
        HandlerWrapper::model_bytes(self, model)
    }
    fn metrics_namespace(&self) -> String {
        HandlerWrapper::metrics_namespace(self)
    }
    fn share_across_workers(&self) -> bool {
        HandlerWrapper::share_across_workers(self)
    }
    fn model_copies(&self) -> usize {
        HandlerWrapper::model_copies(self)
    }
    fn element_weight(&self, example: &Self::Example) -> u64 {
        HandlerWrapper::element_weight(self, example)
    }
    fn element_length(&self, example: &Self::Example) -> Option<usize> {
        HandlerWrapper::element_length(self, example)
    }
    fn batch_group(&self, example: &Self::Example) -> usize {
        HandlerWrapper::batch_group(self, example)
    }
    fn group_batch_config(&self, group: usize) -> BatchConfig {
        HandlerWrapper::group_batch_config(self, group)
    }
    fn group_model_id(&self, group: usize) -> Option<String> {
        HandlerWrapper::group_model_id(self, group)
    }
}
