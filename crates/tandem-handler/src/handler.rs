//! The `ModelHandler` contract and the result type.

use std::sync::Arc;

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::refresh::ModelMetadata;

/// How to load a model and run it on a batch: everything the inference machinery needs to know
/// about a model, and nothing about pipelines or tensors.
///
/// Two methods are required; the rest have defaults. A handler is shared (`Sync`) by every worker
/// of a step, and the loaded `Model` is shared by every batch in flight, so per-request state
/// (KV caches, RNG) belongs in `run_inference`'s locals, not in the model.
///
/// `run_inference` gets the batch as `&[&Example]`: it borrows, so the engine keeps the examples
/// and can retry halves of a failed batch (bisection) and put a bad element in a dead-letter
/// record; and it is a slice of references, so wrappers ([`crate::ModelHandlerExt::keyed`],
/// pre-processing) hand the inner handler a view without copying examples. It returns exactly
/// one prediction per example, in order; any other count is a failure of the batch, never a
/// silent truncation.
///
/// `Args` is the type of `inference_args` (generation settings, thresholds). It is typed instead
/// of a JSON map so that a misspelt or mistyped setting is a compile error rather than a value
/// silently ignored at run time; handlers without settings use `()`.
///
/// # Example
///
/// A handler for a one-weight linear model, driven by the batching engine with a manual clock:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tandem_handler::{
///     BatchConfig, EngineOptions, HandlerError, InferenceEngine, ManualClock, ModelHandler,
/// };
///
/// /// y = weight * x + bias; `threshold` is a per-run setting passed as inference args.
/// struct Linear { weight: f32, bias: f32 }
/// struct LinearModel { weight: f32, bias: f32 }
/// struct Args { clamp_at: f32 }
///
/// impl ModelHandler for Linear {
///     type Example = f32;
///     type Prediction = f32;
///     type Model = LinearModel;
///     type Args = Args;
///
///     fn load_model(&self) -> Result<LinearModel, HandlerError> {
///         Ok(LinearModel { weight: self.weight, bias: self.bias })
///     }
///
///     fn run_inference(
///         &self,
///         batch: &[&f32],
///         model: &LinearModel,
///         args: &Args,
///     ) -> Result<Vec<f32>, HandlerError> {
///         batch
///             .iter()
///             .map(|&&x| {
///                 if x.is_finite() {
///                     Ok((model.weight * x + model.bias).min(args.clamp_at))
///                 } else {
///                     Err(HandlerError::inference(format!("input {x} is not finite")))
///                 }
///             })
///             .collect()
///     }
///
///     fn model_id(&self) -> String {
///         format!("linear-{}-{}", self.weight, self.bias)
///     }
///
///     fn batch_config(&self) -> BatchConfig {
///         BatchConfig { max_batch_size: 4, max_wait: Duration::from_millis(10), ..Default::default() }
///     }
/// }
///
/// let clock = ManualClock::new();
/// let options = EngineOptions::new("Linear").with_clock(Arc::new(clock.clone()));
/// let handler = Arc::new(Linear { weight: 2.0, bias: 1.0 });
/// let mut engine = InferenceEngine::new(handler, Args { clamp_at: 100.0 }, options)?;
///
/// let mut results = Vec::new();
/// let mut dead_letters = Vec::new();
/// for x in [1.0, 2.0, f32::NAN, 3.0, 4.0, 5.0] {
///     // A full batch (4 elements) runs as soon as it is complete.
///     engine.push(x).drain_into(&mut results, &mut dead_letters);
/// }
/// // The fifth and sixth elements wait for more company until their deadline passes.
/// clock.advance(Duration::from_millis(10));
/// engine.poll().drain_into(&mut results, &mut dead_letters);
/// assert_eq!(engine.buffered(), 0);
///
/// // The NaN was isolated by bisecting its batch; its batch-mates were served.
/// let outputs: Vec<f32> = results.iter().map(|r| r.inference).collect();
/// assert_eq!(outputs, vec![3.0, 5.0, 7.0, 9.0, 11.0]);
/// assert_eq!(&*results[0].model_id, "linear-2-1");
/// assert_eq!(dead_letters.len(), 1);
/// assert!(dead_letters[0].example.is_nan());
/// # Ok::<(), HandlerError>(())
/// ```
pub trait ModelHandler: Send + Sync + 'static {
    /// One input element.
    type Example: Send + 'static;
    /// One output of the model for one example.
    type Prediction: Send + 'static;
    /// The loaded model: immutable while serving, shared by concurrent batches.
    type Model: Send + Sync + 'static;
    /// The type of `inference_args`; `()` when the handler takes none.
    type Args: Send + Sync + 'static;

    /// Loads the model named by [`ModelHandler::model_id`]. Called once per process per model id
    /// (per copy), not once per worker.
    fn load_model(&self) -> Result<Self::Model, HandlerError>;

    /// Runs the model on a batch, returning one prediction per example, in order.
    fn run_inference(
        &self,
        batch: &[&Self::Example],
        model: &Self::Model,
        inference_args: &Self::Args,
    ) -> Result<Vec<Self::Prediction>, HandlerError>;

    /// Loads the model described by a refresh update (a new path, a new version). The default
    /// reloads [`ModelHandler::load_model`], which suits a file replaced in place.
    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<Self::Model, HandlerError> {
        let _ = metadata;
        self.load_model()
    }

    /// Batching settings. Default: [`BatchConfig::default`].
    fn batch_config(&self) -> BatchConfig {
        BatchConfig::default()
    }

    /// Identifies the model: the key under which it is shared across workers and steps, the
    /// label of its metrics, and the `model_id` of every result it serves. Default: the type name.
    fn model_id(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }

    /// Approximate memory held by one loaded copy, for metrics. Default: unknown.
    fn model_bytes(&self, model: &Self::Model) -> Option<u64> {
        let _ = model;
        None
    }

    /// Prefix of this handler's metric names. Default: `tandem_inference`.
    fn metrics_namespace(&self) -> String {
        "tandem_inference".to_string()
    }

    /// Whether all workers (and other steps naming the same model id) share one loaded model.
    /// Default: true. When false each engine loads its own copy.
    fn share_across_workers(&self) -> bool {
        true
    }

    /// How many copies of the model to load and spread batches over (e.g. one per GPU stream).
    /// Default: 1.
    fn model_copies(&self) -> usize {
        1
    }

    /// The cost of one example against [`BatchConfig::max_batch_weight`] (tokens, pixels).
    /// Default: 1.
    fn element_weight(&self, example: &Self::Example) -> u64 {
        let _ = example;
        1
    }

    /// The length used for bucketing ([`BatchConfig::bucketing`]); `None` puts every example in
    /// one bucket. Default: `None`.
    fn element_length(&self, example: &Self::Example) -> Option<usize> {
        let _ = example;
        None
    }

    /// Which independent batching group an example belongs to. Examples of different groups
    /// never share a batch and each group uses [`ModelHandler::group_batch_config`]. Default: 0.
    /// [`crate::KeyModelMapping`] uses one group per inner handler.
    fn batch_group(&self, example: &Self::Example) -> usize {
        let _ = example;
        0
    }

    /// Batching settings of one group. Default: [`ModelHandler::batch_config`].
    fn group_batch_config(&self, group: usize) -> BatchConfig {
        let _ = group;
        self.batch_config()
    }

    /// The model id that serves a group, when it differs from the handler's own model (the
    /// inner handlers of a [`crate::KeyModelMapping`]). Default: `None`.
    fn group_model_id(&self, group: usize) -> Option<String> {
        let _ = group;
        None
    }
}

/// One served example: the input, what the model said, and which model said it.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionResult<E, P> {
    /// The example as pushed (before any pre-processing).
    pub example: E,
    /// The model's output for it.
    pub inference: P,
    /// The model (and version, after a refresh) that produced `inference`.
    pub model_id: Arc<str>,
}

impl<K, E, P> PredictionResult<(K, E), P> {
    /// Moves the key out: `(K, Example)` in, `(K, PredictionResult)` out.
    pub fn into_keyed(self) -> (K, PredictionResult<E, P>) {
        let (key, example) = self.example;
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
