//! Keyed handlers over one model: `(K, Example)` in, the key carried through to the result.
//!
//! This is the one-model case only; routing keys to *different* models is
//! [`crate::KeyModelMapping`], a different type, so neither carries the other's branches.

use std::marker::PhantomData;

use crate::error::HandlerError;
use crate::handler::{ModelHandler, PredictionResult};
use crate::wrapper::HandlerWrapper;

/// `(K, Example)` examples served by one inner handler; the key rides along in the result's
/// example ([`PredictionResult::into_keyed`] splits it back out).
pub struct KeyedModelHandler<K, H> {
    inner: H,
    _key: PhantomData<fn() -> K>,
}

impl<K, H> KeyedModelHandler<K, H> {
    /// Wraps `inner`.
    pub fn new(inner: H) -> Self {
        KeyedModelHandler {
            inner,
            _key: PhantomData,
        }
    }
}

impl<K: Send + 'static, H: ModelHandler> HandlerWrapper for KeyedModelHandler<K, H> {
    type Inner = H;
    type Example = (K, H::Example);
    type Prediction = H::Prediction;
    type Args = H::Args;

    fn inner(&self) -> &H {
        &self.inner
    }

    fn inner_example<'a>(&self, example: &'a (K, H::Example)) -> Option<&'a H::Example> {
        Some(&example.1)
    }

    fn run_inference(
        &self,
        batch: &[&(K, H::Example)],
        model: &H::Model,
        inference_args: &H::Args,
    ) -> Result<Vec<H::Prediction>, HandlerError> {
        let inner: Vec<&H::Example> = batch.iter().map(|(_, e)| e).collect();
        self.inner.run_inference(&inner, model, inference_args)
    }
}

/// An example that may or may not carry a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaybeKeyed<K, E> {
    /// With a key.
    Keyed(K, E),
    /// Without.
    Unkeyed(E),
}

impl<K, E> MaybeKeyed<K, E> {
    /// The example, key aside.
    pub fn example(&self) -> &E {
        match self {
            MaybeKeyed::Keyed(_, e) | MaybeKeyed::Unkeyed(e) => e,
        }
    }

    /// Splits into the optional key and the example.
    pub fn into_parts(self) -> (Option<K>, E) {
        match self {
            MaybeKeyed::Keyed(k, e) => (Some(k), e),
            MaybeKeyed::Unkeyed(e) => (None, e),
        }
    }
}

impl<K, E, P> PredictionResult<MaybeKeyed<K, E>, P> {
    /// Moves the optional key out.
    pub fn into_maybe_keyed(self) -> (Option<K>, PredictionResult<E, P>) {
        let (key, example) = self.example.into_parts();
        (
            key,
            PredictionResult {
                example,
                inference: self.inference,
                model_id: self.model_id,
            },
        )
    }
}

/// Examples that may or may not be keyed, mixed in one input, served by one inner handler.
pub struct MaybeKeyedModelHandler<K, H> {
    inner: H,
    _key: PhantomData<fn() -> K>,
}

impl<K, H> MaybeKeyedModelHandler<K, H> {
    /// Wraps `inner`.
    pub fn new(inner: H) -> Self {
        MaybeKeyedModelHandler {
            inner,
            _key: PhantomData,
        }
    }
}

impl<K: Send + 'static, H: ModelHandler> HandlerWrapper for MaybeKeyedModelHandler<K, H> {
    type Inner = H;
    type Example = MaybeKeyed<K, H::Example>;
    type Prediction = H::Prediction;
    type Args = H::Args;

    fn inner(&self) -> &H {
        &self.inner
    }

    fn inner_example<'a>(&self, example: &'a MaybeKeyed<K, H::Example>) -> Option<&'a H::Example> {
        Some(example.example())
    }

    fn run_inference(
        &self,
        batch: &[&MaybeKeyed<K, H::Example>],
        model: &H::Model,
        inference_args: &H::Args,
    ) -> Result<Vec<H::Prediction>, HandlerError> {
        let inner: Vec<&H::Example> = batch.iter().map(|e| e.example()).collect();
        self.inner.run_inference(&inner, model, inference_args)
    }
}
