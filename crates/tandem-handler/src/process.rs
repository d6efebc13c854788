//! Pre- and post-processing wrappers.

use std::marker::PhantomData;

use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::wrapper::HandlerWrapper;

/// Turns raw inputs `A` into the inner handler's examples inside the batch call.
///
/// Preprocessing runs per batch attempt, so a preprocessing error is isolated by bisection like
/// an inference error and the bad raw input is dead-lettered as itself (the caller gets back what
/// it sent, e.g. the image path, not a half-decoded tensor). Results carry the raw input.
/// Because the inner examples do not exist before the call, the inner handler's
/// `element_weight`/`element_length`/`batch_group` are not consulted: the wrapper uses weight 1,
/// no length and group 0. To bucket by length, preprocess before the engine instead. Every
/// other method is the inner handler's ([`HandlerWrapper`]).
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

impl<H, A, F> HandlerWrapper for PreprocessHandler<H, A, F>
where
    H: ModelHandler,
    A: Send + 'static,
    F: Fn(&A) -> Result<H::Example, HandlerError> + Send + Sync + 'static,
{
    type Inner = H;
    type Example = A;
    type Prediction = H::Prediction;
    type Args = H::Args;

    fn inner(&self) -> &H {
        &self.inner
    }

    /// The inner example exists only inside the batch call.
    fn inner_example<'a>(&self, _example: &'a A) -> Option<&'a H::Example> {
        None
    }

    fn run_inference(
        &self,
        batch: &[&A],
        model: &H::Model,
        inference_args: &H::Args,
    ) -> Result<Vec<H::Prediction>, HandlerError> {
        let examples: Vec<H::Example> = batch
            .iter()
            .map(|a| (self.preprocess)(a))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&H::Example> = examples.iter().collect();
        self.inner.run_inference(&refs, model, inference_args)
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

impl<H, Q, F> HandlerWrapper for PostprocessHandler<H, Q, F>
where
    H: ModelHandler,
    Q: Send + 'static,
    F: Fn(H::Prediction) -> Q + Send + Sync + 'static,
{
    type Inner = H;
    type Example = H::Example;
    type Prediction = Q;
    type Args = H::Args;

    fn inner(&self) -> &H {
        &self.inner
    }

    fn inner_example<'a>(&self, example: &'a H::Example) -> Option<&'a H::Example> {
        Some(example)
    }

    fn run_inference(
        &self,
        batch: &[&H::Example],
        model: &H::Model,
        inference_args: &H::Args,
    ) -> Result<Vec<Q>, HandlerError> {
        let predictions = self.inner.run_inference(batch, model, inference_args)?;
        Ok(predictions.into_iter().map(&self.postprocess).collect())
    }
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
