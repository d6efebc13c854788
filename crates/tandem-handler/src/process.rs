//! Pre- and post-processing wrappers.

use std::marker::PhantomData;

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::keyed::delegate_model_methods;
use crate::refresh::ModelMetadata;

/// Turns raw inputs `A` into the inner handler's examples inside the batch call.
///
/// Preprocessing runs per batch attempt, so a preprocessing error is isolated by bisection like
/// an inference error and the bad raw input is dead-lettered as itself (the caller gets back what
/// it sent, e.g. the image path, not a half-decoded tensor). Results carry the raw input.
/// Because the inner examples do not exist before the call, the inner handler's
/// `element_weight`/`element_length`/`batch_group` are not consulted: the wrapper uses weight 1,
/// no length and group 0. To bucket by length, preprocess before the engine instead.
pub struct PreprocessHandler<H, A, F> {
    inner: H,
    preprocess: F,
    _input: PhantomData<fn(A)>,
}

impl<H, A, F> PreprocessHandler<H, A, F> {
    /// Wraps `inner` with `preprocess`.
    pub fn new(inner: H, preprocess: F) -> Self {
        PreprocessHandler {
            inner,
            preprocess,
            _input: PhantomData,
        }
    }
}

impl<H, A, F> ModelHandler for PreprocessHandler<H, A, F>
where
    H: ModelHandler,
    A: Send + 'static,
    F: Fn(&A) -> Result<H::Example, HandlerError> + Send + Sync + 'static,
{
    type Example = A;
    type Prediction = H::Prediction;
    type Model = H::Model;
    type Args = H::Args;

    fn run_inference(
        &self,
        batch: &[&A],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError> {
        let examples: Vec<H::Example> = batch
            .iter()
            .map(|a| (self.preprocess)(a))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&H::Example> = examples.iter().collect();
        self.inner.run_inference(&refs, model, inference_args)
    }

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        self.inner.load_model()
    }
    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<Self::Model, HandlerError> {
        self.inner.load_model_from(metadata)
    }
    fn batch_config(&self) -> BatchConfig {
        self.inner.batch_config()
    }
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    fn model_bytes(&self, model: &Self::Model) -> Option<u64> {
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
}

/// Maps each prediction after the model ran (decode token ids, pick the top label).
pub struct PostprocessHandler<H, Q, F> {
    inner: H,
    postprocess: F,
    _output: PhantomData<fn() -> Q>,
}

impl<H, Q, F> PostprocessHandler<H, Q, F> {
    /// Wraps `inner` with `postprocess`.
    pub fn new(inner: H, postprocess: F) -> Self {
        PostprocessHandler {
            inner,
            postprocess,
            _output: PhantomData,
        }
    }
}

impl<H, Q, F> ModelHandler for PostprocessHandler<H, Q, F>
where
    H: ModelHandler,
    Q: Send + 'static,
    F: Fn(H::Prediction) -> Q + Send + Sync + 'static,
{
    type Example = H::Example;
    type Prediction = Q;
    type Model = H::Model;
    type Args = H::Args;

    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Q>, HandlerError> {
        let predictions = self.inner.run_inference(batch, model, inference_args)?;
        Ok(predictions.into_iter().map(&self.postprocess).collect())
    }

    delegate_model_methods!(std::convert::identity);
}

/// The wrappers as methods on every handler.
pub trait ModelHandlerExt: ModelHandler + Sized {
    /// `(K, Example)` in; the key is carried to the result.
    fn keyed<K: Send + 'static>(self) -> crate::KeyedModelHandler<K, Self> {
        crate::KeyedModelHandler::new(self)
    }

    /// Keyed and unkeyed examples mixed.
    fn maybe_keyed<K: Send + 'static>(self) -> crate::MaybeKeyedModelHandler<K, Self> {
        crate::MaybeKeyedModelHandler::new(self)
    }

    /// Raw inputs `A` preprocessed by `f` inside each batch call.
    fn with_preprocess<A, F>(self, f: F) -> PreprocessHandler<Self, A, F>
    where
        A: Send + 'static,
        F: Fn(&A) -> Result<Self::Example, HandlerError> + Send + Sync + 'static,
    {
        PreprocessHandler::new(self, f)
    }

    /// Predictions mapped by `f`.
    fn with_postprocess<Q, F>(self, f: F) -> PostprocessHandler<Self, Q, F>
    where
        Q: Send + 'static,
        F: Fn(Self::Prediction) -> Q + Send + Sync + 'static,
    {
        PostprocessHandler::new(self, f)
    }
}

impl<H: ModelHandler> ModelHandlerExt for H {}
