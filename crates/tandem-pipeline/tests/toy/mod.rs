//! The toy model of the RunInference tests: `y = factor · (w·x + b)`, with `w` and `b` read
//! from a safetensors file the test writes. Adapted from tandem-handler's test toy.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tandem_handler::{BatchConfig, HandlerError, ModelHandler, ModelMetadata};

/// Writes `weight` and `bias` as f32 tensors to `path` (write, then rename).
pub fn write_weights(path: &Path, weight: &[f32], bias: f32) {
    let w: Vec<u8> = weight.iter().flat_map(|v| v.to_le_bytes()).collect();
    let b: Vec<u8> = bias.to_le_bytes().to_vec();
    let tensors = vec![
        (
            "weight",
            TensorView::new(Dtype::F32, vec![weight.len()], &w).unwrap(),
        ),
        ("bias", TensorView::new(Dtype::F32, vec![1], &b).unwrap()),
    ];
    let bytes = safetensors::serialize(tensors, None).unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[derive(Debug)]
pub struct LinearModel {
    pub weight: Vec<f32>,
    pub bias: f32,
}

impl LinearModel {
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

/// Per-run settings passed as `inference_args`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub factor: f32,
}

impl Default for Scale {
    fn default() -> Self {
        Scale { factor: 1.0 }
    }
}

/// Refuses non-finite inputs (the poison elements), counts loads and records batch sizes.
pub struct Linear {
    pub path: PathBuf,
    pub id: String,
    pub config: BatchConfig,
    pub loads: Arc<AtomicUsize>,
    pub batch_sizes: Arc<Mutex<Vec<usize>>>,
}

impl Linear {
    pub fn new(path: &Path, id: &str) -> Self {
        Linear {
            path: path.to_path_buf(),
            id: id.to_string(),
            config: BatchConfig::default(),
            loads: Arc::new(AtomicUsize::new(0)),
            batch_sizes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl ModelHandler for Linear {
    type Example = Vec<f32>;
    type Prediction = f32;
    type Model = LinearModel;
    type Args = Scale;

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
        args: &Scale,
    ) -> Result<Vec<f32>, HandlerError> {
        self.batch_sizes
            .lock()
            .map_err(|_| HandlerError::inference("batch size log poisoned"))?
            .push(batch.len());
        batch
            .iter()
            .map(|x| {
                if x.iter().any(|v| !v.is_finite()) {
                    return Err(HandlerError::inference("non-finite input"));
                }
                Ok(args.factor * model.apply(x))
            })
            .collect()
    }

    fn model_id(&self) -> String {
        self.id.clone()
    }

    fn batch_config(&self) -> BatchConfig {
        self.config.clone()
    }

    fn model_bytes(&self, model: &LinearModel) -> Option<u64> {
        Some(4 * (model.weight.len() as u64 + 1))
    }
}

/// `[x, 1, 0, 0]`.
pub fn ex(x: f32) -> Vec<f32> {
    vec![x, 1.0, 0.0, 0.0]
}
