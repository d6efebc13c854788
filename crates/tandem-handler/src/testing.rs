//! Test toys shared by the test suites of `tandem-handler`, `tandem-pipeline` and the runners
//! (feature `testing`; never part of a normal build).
//!
//! - [`Linear`]: a linear model `y = factor · (w·x + b)` whose weights a test writes to a
//!   safetensors file ([`write_weights`]), with counters for loads and batch sizes, poison
//!   inputs (non-finite values) and an optional manual clock to simulate inference time.
//! - [`Probe`]: a handler overriding every [`ModelHandler`] method with a distinct answer, to
//!   check that wrappers forward the whole contract.
//!
//! The helpers panic (naming the file) when the test's own temporary files cannot be written:
//! they are test support, not library code.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::clock::ManualClock;
use crate::config::{BatchConfig, Bucketing};
use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::refresh::ModelMetadata;

/// Writes `weight` and `bias` as f32 tensors to `path` (write, then rename, so a watcher never
/// sees half a file).
///
/// # Panics
/// When the file cannot be written (the test's own temporary directory).
pub fn write_weights(path: &Path, weight: &[f32], bias: f32) {
    let fail = |e: &dyn std::fmt::Display| -> ! {
        panic!("writing test weights to {}: {e}", path.display())
    };
    let w: Vec<u8> = weight.iter().flat_map(|v| v.to_le_bytes()).collect();
    let b: Vec<u8> = bias.to_le_bytes().to_vec();
    let weight_view =
        TensorView::new(Dtype::F32, vec![weight.len()], &w).unwrap_or_else(|e| fail(&e));
    let bias_view = TensorView::new(Dtype::F32, vec![1], &b).unwrap_or_else(|e| fail(&e));
    let bytes = safetensors::serialize(vec![("weight", weight_view), ("bias", bias_view)], None)
        .unwrap_or_else(|e| fail(&e));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| fail(&e));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| fail(&e));
}

/// The loaded toy model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub weight: Vec<f32>,
    pub bias: f32,
}

impl LinearModel {
    /// `w·x + b` over the first `x.len()` weights.
    pub fn apply(&self, x: &[f32]) -> f32 {
        x.iter().zip(&self.weight).map(|(a, w)| a * w).sum::<f32>() + self.bias
    }
}

fn read_f32s(st: &SafeTensors<'_>, name: &str, id: &str) -> Result<Vec<f32>, HandlerError> {
    let t = st.tensor(name).map_err(|e| HandlerError::load(id, e))?;
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Reads a file written by [`write_weights`].
///
/// # Errors
/// [`HandlerError::Load`]-kind errors naming `path` when it is missing or malformed.
pub fn load_linear(path: &Path) -> Result<LinearModel, HandlerError> {
    let id = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| HandlerError::load(&id, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| HandlerError::load(&id, e))?;
    let weight = read_f32s(&st, "weight", &id)?;
    let bias = *read_f32s(&st, "bias", &id)?
        .first()
        .ok_or_else(|| HandlerError::load(&id, "empty bias"))?;
    Ok(LinearModel { weight, bias })
}

/// Per-run settings passed as `inference_args`: the output is multiplied by `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub factor: f32,
}

impl Default for Scale {
    fn default() -> Self {
        Scale { factor: 1.0 }
    }
}

/// The `inference_args` types [`Linear`] accepts: `()` (factor 1) or [`Scale`].
pub trait LinearArgs: Send + Sync + 'static {
    /// The factor applied to every output.
    fn factor(&self) -> f32;
}

impl LinearArgs for () {
    fn factor(&self) -> f32 {
        1.0
    }
}

impl LinearArgs for Scale {
    fn factor(&self) -> f32 {
        self.factor
    }
}

/// `y = factor · (w·x[..len] + b)` (shorter inputs use the first weights), with `A` its
/// `inference_args` (`()` or [`Scale`]).
///
/// It refuses non-finite inputs (the poison element), refuses batches mixing input lengths
/// (like a model that must stack tensors) and inputs longer than its weights, records every
/// batch size it sees and counts loads, and can advance a manual clock by
/// `overhead + per_element · n` per batch to simulate inference time. An example's weight is its
/// length; its length is used for bucketing when `bucket_by_length` is set.
pub struct Linear<A = ()> {
    pub path: PathBuf,
    /// The model id; `None`: the path.
    pub id: Option<String>,
    pub config: BatchConfig,
    pub clock: Option<ManualClock>,
    pub overhead: Duration,
    pub per_element: Duration,
    pub bucket_by_length: bool,
    pub batch_sizes: Arc<Mutex<Vec<usize>>>,
    pub loads: Arc<AtomicUsize>,
    pub args: PhantomData<fn(A)>,
}

impl<A> Linear<A> {
    /// Serves the weights in `path` with `config`.
    pub fn new(path: &Path, config: BatchConfig) -> Self {
        Linear {
            path: path.to_path_buf(),
            id: None,
            config,
            clock: None,
            overhead: Duration::ZERO,
            per_element: Duration::ZERO,
            bucket_by_length: false,
            batch_sizes: Arc::new(Mutex::new(Vec::new())),
            loads: Arc::new(AtomicUsize::new(0)),
            args: PhantomData,
        }
    }

    /// Serves the weights in `path` under the model id `id`, with default batching.
    pub fn named(path: &Path, id: &str) -> Self {
        Linear::new(path, BatchConfig::default()).with_id(id)
    }

    /// Sets the model id.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// The batch sizes seen so far, in order.
    pub fn sizes(&self) -> Vec<usize> {
        self.batch_sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times a model was loaded.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl<A: LinearArgs> ModelHandler for Linear<A> {
    type Example = Vec<f32>;
    type Prediction = f32;
    type Model = LinearModel;
    type Args = A;

    fn load_model(&self) -> Result<LinearModel, HandlerError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        load_linear(&self.path)
    }

    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<LinearModel, HandlerError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        load_linear(metadata.path.as_deref().unwrap_or(&self.path))
    }

    fn run_inference(
        &self,
        batch: &[&Vec<f32>],
        model: &LinearModel,
        args: &A,
    ) -> Result<Vec<f32>, HandlerError> {
        self.batch_sizes
            .lock()
            .map_err(|_| HandlerError::inference("batch size log poisoned"))?
            .push(batch.len());
        if let Some(clock) = &self.clock {
            clock.advance(self.overhead + self.per_element * batch.len() as u32);
        }
        let len = batch.first().map_or(0, |x| x.len());
        if batch.iter().any(|x| x.len() != len) {
            return Err(HandlerError::inference(
                "unable to batch inputs of different lengths",
            ));
        }
        if len > model.weight.len() {
            return Err(HandlerError::inference(format!(
                "input length {len} exceeds {} weights",
                model.weight.len()
            )));
        }
        batch
            .iter()
            .map(|x| {
                if x.iter().any(|v| !v.is_finite()) {
                    return Err(HandlerError::inference("non-finite input"));
                }
                Ok(args.factor() * model.apply(x))
            })
            .collect()
    }

    fn model_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }

    fn batch_config(&self) -> BatchConfig {
        self.config.clone()
    }

    fn model_bytes(&self, model: &LinearModel) -> Option<u64> {
        Some(4 * (model.weight.len() as u64 + 1))
    }

    fn element_weight(&self, example: &Vec<f32>) -> u64 {
        example.len() as u64
    }

    fn element_length(&self, example: &Vec<f32>) -> Option<usize> {
        self.bucket_by_length.then_some(example.len())
    }
}

/// A handler whose every [`ModelHandler`] method answers something no default would, so a
/// test can tell whether a wrapper forwarded it. The example is a `u32` `n`; the model is its
/// load count tag (`"load"` or the refresh's model id).
#[derive(Debug, Clone, Default)]
pub struct Probe;

impl Probe {
    /// What [`ModelHandler::batch_config`] answers.
    pub fn batch() -> BatchConfig {
        BatchConfig {
            max_batch_size: 17,
            bucketing: Bucketing::PowersOfTwo,
            ..Default::default()
        }
    }

    /// What [`ModelHandler::group_batch_config`] answers for `group`.
    pub fn group_batch(group: usize) -> BatchConfig {
        BatchConfig {
            max_batch_size: 100 + group,
            ..Default::default()
        }
    }
}

impl ModelHandler for Probe {
    type Example = u32;
    type Prediction = u32;
    type Model = String;
    type Args = u32;

    fn load_model(&self) -> Result<String, HandlerError> {
        Ok(String::from("load"))
    }

    /// Each example plus the args.
    fn run_inference(
        &self,
        batch: &[&u32],
        _model: &String,
        inference_args: &u32,
    ) -> Result<Vec<u32>, HandlerError> {
        Ok(batch.iter().map(|&&n| n + inference_args).collect())
    }

    fn load_model_from(&self, metadata: &ModelMetadata) -> Result<String, HandlerError> {
        Ok(metadata.model_id.clone())
    }

    fn batch_config(&self) -> BatchConfig {
        Probe::batch()
    }

    fn model_id(&self) -> String {
        String::from("probe")
    }

    /// The model's length.
    fn model_bytes(&self, model: &String) -> Option<u64> {
        Some(model.len() as u64)
    }

    fn metrics_namespace(&self) -> String {
        String::from("probe_ns")
    }

    fn share_across_workers(&self) -> bool {
        false
    }

    fn model_copies(&self) -> usize {
        3
    }

    /// `n + 1000`.
    fn element_weight(&self, example: &u32) -> u64 {
        u64::from(*example) + 1000
    }

    /// `n + 2000`.
    fn element_length(&self, example: &u32) -> Option<usize> {
        Some(*example as usize + 2000)
    }

    /// `n % 3 + 1`.
    fn batch_group(&self, example: &u32) -> usize {
        *example as usize % 3 + 1
    }

    fn group_batch_config(&self, group: usize) -> BatchConfig {
        Probe::group_batch(group)
    }

    /// `"probe-group-{group}"`.
    fn group_model_id(&self, group: usize) -> Option<String> {
        Some(format!("probe-group-{group}"))
    }
}

/// Checks every [`ModelHandler`] method of `wrapper`, a wrapper around [`Probe`], against the
/// probe's answers; `to_example` builds the wrapper's example for the probe's example `n`.
/// `per_example`: whether the wrapper sees the inner example before the batch call
/// (pre-processing does not, and then must answer the contract's defaults).
///
/// # Panics
/// On the first method whose answer is not the probe's, naming `name` and the method.
pub fn assert_forwards_probe<W>(
    name: &str,
    wrapper: &W,
    to_example: impl Fn(u32) -> W::Example,
    per_example: bool,
) where
    W: ModelHandler<Model = String, Args = u32>,
    W::Prediction: std::fmt::Debug + PartialEq<u32>,
{
    let probe = Probe;
    let model = wrapper
        .load_model()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(model, probe.load_model().unwrap(), "{name}: load_model");
    let refresh = ModelMetadata {
        model_id: "probe-v2".into(),
        path: None,
    };
    assert_eq!(
        wrapper.load_model_from(&refresh).unwrap(),
        "probe-v2",
        "{name}: load_model_from"
    );
    let examples = [to_example(1), to_example(5)];
    let batch: Vec<&W::Example> = examples.iter().collect();
    let out = wrapper.run_inference(&batch, &model, &10).unwrap();
    assert_eq!(out.len(), 2, "{name}: run_inference");
    assert!(
        out[0] == 11 && out[1] == 15,
        "{name}: run_inference {out:?}"
    );
    assert_eq!(
        wrapper.batch_config(),
        Probe::batch(),
        "{name}: batch_config"
    );
    assert_eq!(wrapper.model_id(), "probe", "{name}: model_id");
    assert_eq!(wrapper.model_bytes(&model), Some(4), "{name}: model_bytes");
    assert_eq!(
        wrapper.metrics_namespace(),
        "probe_ns",
        "{name}: metrics_namespace"
    );
    assert!(
        !wrapper.share_across_workers(),
        "{name}: share_across_workers"
    );
    assert_eq!(wrapper.model_copies(), 3, "{name}: model_copies");
    for group in [0, 2] {
        assert_eq!(
            wrapper.group_batch_config(group),
            Probe::group_batch(group),
            "{name}: group_batch_config"
        );
        assert_eq!(
            wrapper.group_model_id(group),
            probe.group_model_id(group),
            "{name}: group_model_id"
        );
    }
    let e = to_example(7);
    if per_example {
        assert_eq!(wrapper.element_weight(&e), 1007, "{name}: element_weight");
        assert_eq!(
            wrapper.element_length(&e),
            Some(2007),
            "{name}: element_length"
        );
        assert_eq!(wrapper.batch_group(&e), 2, "{name}: batch_group");
    } else {
        assert_eq!(wrapper.element_weight(&e), 1, "{name}: element_weight");
        assert_eq!(wrapper.element_length(&e), None, "{name}: element_length");
        assert_eq!(wrapper.batch_group(&e), 0, "{name}: batch_group");
    }
}
