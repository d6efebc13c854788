//! Keyed handlers over one model: `(K, Example)` in, the key carried through to the result.
//!
//! This is the one-model case only; routing keys to *different* models is
//! [`crate::KeyModelMapping`], a different type, so neither carries the other's branches.

use std::marker::PhantomData;

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::handler::{ModelHandler, PredictionResult};
use crate::refresh::ModelMetadata;

/// Forwards every `ModelHandler` method except the example type to `self.inner`, given a
/// function from the wrapper's example to the inner example.
macro_rules! delegate_model_methods {
    ($project:expr) => {
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
        fn element_weight(&self, example: &Self::Example) -> u64 {
            self.inner.element_weight($project(example))
        }
        fn element_length(&self, example: &Self::Example) -> Option<usize> {
            self.inner.element_length($project(example))
        }
        fn batch_group(&self, example: &Self::Example) -> usize {
            self.inner.batch_group($project(example))
        }
        fn group_batch_config(&self, group: usize) -> BatchConfig {
            self.inner.group_batch_config(group)
        }
        fn group_model_id(&self, group: usize) -> Option<String> {
            self.inner.group_model_id(group)
        }
    };
}
pub(crate) use delegate_model_methods;

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

impl<K: Send + 'static, H: ModelHandler> ModelHandler for KeyedModelHandler<K, H> {
    type Example = (K, H::Example);
    type Prediction = H::Prediction;
    type Model = H::Model;
    type Args = H::Args;

    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError> {
        let inner: Vec<&H::Example> = batch.iter().map(|(_, e)| e).collect();
        self.inner.run_inference(&inner, model, inference_args)
    }

    delegate_model_methods!(second);
}

fn second<K, E>(pair: &(K, E)) -> &E {
    &pair.1
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

impl<K: Send + 'static, H: ModelHandler> ModelHandler for MaybeKeyedModelHandler<K, H> {
    type Example = MaybeKeyed<K, H::Example>;
    type Prediction = H::Prediction;
    type Model = H::Model;
    type Args = H::Args;

    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError> {
        let inner: Vec<&H::Example> = batch.iter().map(|e| e.example()).collect();
        self.inner.run_inference(&inner, model, inference_args)
    }

    delegate_model_methods!(MaybeKeyed::example);
}
