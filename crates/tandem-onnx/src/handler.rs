//! [`OnnxModelHandler`]: any ONNX model as a `tandem_handler::ModelHandler`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::session::Session;
use tandem_handler::{BatchConfig, HandlerError, ModelHandler};

use crate::batch::{check_example, group_by_shape, run_group};
use crate::error::OnnxError;
use crate::runtime;
use crate::session::{open, BatchAxis, SessionConfig, Signature};
use crate::tensor::NamedTensors;

/// Serves an `.onnx` file with ONNX Runtime: Beam's `OnnxModelHandlerNumpy`, with named tensors.
///
/// - **Examples** are [`NamedTensors`]: one tensor per model input, named as in the graph, each
///   **without** the batch axis (an input declared `[batch, 12]` takes `[12]` per example).
///   Predictions are the model's outputs, named likewise, one row per example.
/// - **Batching**: the engine's batches are stacked along axis 0, which must be dynamic in the
///   graph (an exporter's `dynamic_axes={"x": {0: "batch"}}`). A model exported with axis 0
///   fixed to 1 is served one example per run. Examples whose dynamic non-batch dims differ
///   (sequence lengths) run as separate groups of the same call; for fewer runs, give the
///   handler a [`BatchConfig`] with length buckets and pad upstream.
/// - **Errors**: an example with a missing, extra, mistyped or wrongly shaped input fails its
///   batch with an error naming the example index and the input; the engine then bisects the
///   batch so only that example is dead-lettered. Runtime errors keep their `ort` source,
///   rendered into the dead letter.
/// - **Sharing**: `ort` sessions run one call at a time (`Session::run` takes `&mut self`), so a
///   loaded model holds its session behind a mutex; use [`OnnxModelHandler::with_copies`] for
///   concurrent batches.
///
/// ```no_run
/// use tandem_onnx::{NamedTensors, OnnxModelHandler, TensorValue};
/// use tandem_handler::ModelHandler;
///
/// let handler = OnnxModelHandler::new("classifier.onnx");
/// let model = handler.load_model()?; // needs ONNX Runtime: see `OnnxError::Library`
/// let example = NamedTensors::new().with("image_embeds", TensorValue::vector_f32(vec![0.0; 12]));
/// let out = handler.run_inference(&[&example], &model, &())?;
/// println!("{:?}", out[0].get("probs"));
/// # Ok::<(), tandem_handler::HandlerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OnnxModelHandler {
    model: PathBuf,
    library: Option<PathBuf>,
    session: SessionConfig,
    batch: BatchConfig,
    copies: usize,
}

impl OnnxModelHandler {
    /// Serves the model file at `model` with default session options and batching.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        OnnxModelHandler {
            model: model.into(),
            library: None,
            session: SessionConfig::default(),
            batch: BatchConfig::default(),
            copies: 1,
        }
    }

    /// Loads ONNX Runtime from `path` instead of `ORT_DYLIB_PATH` / the system library (only
    /// the first library a process loads is used).
    pub fn with_library(mut self, path: impl Into<PathBuf>) -> Self {
        self.library = Some(path.into());
        self
    }

    /// Session options: threads, graph optimisation level, execution providers.
    pub fn with_session_config(mut self, config: SessionConfig) -> Self {
        self.session = config;
        self
    }

    /// Batching settings.
    pub fn with_batch_config(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// Loads `copies` sessions (at least one) so that as many batches can run at once.
    pub fn with_copies(mut self, copies: usize) -> Self {
        self.copies = copies.max(1);
        self
    }

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model
    }

    /// Opens the model without the engine: the session and its signature.
    pub fn load(&self) -> Result<OnnxModel, OnnxError> {
        let env = runtime::environment(self.library.as_deref())?;
        let session = open(&env, &self.model, &self.session)?;
        let signature = Signature::of(&session)?;
        let bytes = std::fs::metadata(&self.model).map(|m| m.len()).ok();
        Ok(OnnxModel {
            session: Mutex::new(session),
            signature,
            bytes,
        })
    }

    /// Runs a batch, reporting errors as [`OnnxError`].
    pub fn predict(
        &self,
        batch: &[&NamedTensors],
        model: &OnnxModel,
    ) -> Result<Vec<NamedTensors>, OnnxError> {
        let signature = &model.signature;
        for (index, example) in batch.iter().enumerate() {
            check_example(signature, index, example)?;
        }
        let groups = match signature.batch_axis {
            BatchAxis::Dynamic => group_by_shape(signature, batch),
            BatchAxis::FixedOne => (0..batch.len()).map(|i| vec![i]).collect(),
        };
        let mut slots: Vec<Option<NamedTensors>> = vec![None; batch.len()];
        let mut session = model.session.lock().unwrap_or_else(PoisonError::into_inner);
        for members in groups {
            let outputs = run_group(&mut session, signature, batch, &members)?;
            for (i, out) in members.into_iter().zip(outputs) {
                slots[i] = Some(out);
            }
        }
        // Every index is in exactly one group, so every slot is filled.
        Ok(slots.into_iter().flatten().collect())
    }
}

/// A loaded model: its session and signature.
pub struct OnnxModel {
    session: Mutex<Session>,
    signature: Signature,
    bytes: Option<u64>,
}

impl OnnxModel {
    /// The model's inputs and outputs.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

impl ModelHandler for OnnxModelHandler {
    type Example = NamedTensors;
    type Prediction = NamedTensors;
    type Model = OnnxModel;
    type Args = ();

    fn load_model(&self) -> Result<OnnxModel, HandlerError> {
        self.load()
            .map_err(|e| HandlerError::load(self.model_id(), tandem_handler::error_chain(&e)))
    }

    fn run_inference(
        &self,
        batch: &[&NamedTensors],
        model: &OnnxModel,
        _args: &(),
    ) -> Result<Vec<NamedTensors>, HandlerError> {
        self.predict(batch, model)
            .map_err(|e| HandlerError::from_error(&e))
    }

    fn model_id(&self) -> String {
        format!("onnx:{}", self.model.display())
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch.clone()
    }

    fn model_bytes(&self, model: &OnnxModel) -> Option<u64> {
        model.bytes
    }

    fn model_copies(&self) -> usize {
        self.copies
    }
}
