//! The toy handler shared by the integration tests: a linear model `y = w·x + b` whose weights
//! the tests write to safetensors files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tandem_handler::{BatchConfig, HandlerError, ManualClock, ModelHandler, ModelMetadata};

/// Writes `weight` and `bias` as f32 tensors to `path`.
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
    // Write then rename so a watcher never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-handler-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Debug)]
pub struct LinearModel {
    pub weight: Vec<f32>,
    pub bias: f32,
}

fn read_f32s(st: &SafeTensors<'_>, name: &str) -> Result<Vec<f32>, HandlerError> {
    let t = st.tensor(name).map_err(HandlerError::inference)?;
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub fn load_linear(path: &Path) -> Result<LinearModel, HandlerError> {
    let id = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| HandlerError::load(&id, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| HandlerError::load(&id, e))?;
    let weight = read_f32s(&st, "weight").map_err(|e| HandlerError::load(&id, e))?;
    let bias = read_f32s(&st, "bias").map_err(|e| HandlerError::load(&id, e))?;
    let bias = *bias
        .first()
        .ok_or_else(|| HandlerError::load(&id, "empty bias"))?;
    Ok(LinearModel { weight, bias })
}

/// `y = w·x[..len] + b` (shorter inputs use the first weights). It refuses NaN inputs (the poison
/// element), refuses batches mixing input lengths (like a model that must stack tensors), records
/// every batch size it sees, and can advance a manual clock to simulate inference time.
pub struct Linear {
    pub path: PathBuf,
    pub id: Option<String>,
    pub config: BatchConfig,
    pub clock: Option<ManualClock>,
    pub overhead: Duration,
    pub per_element: Duration,
    pub bucket_by_length: bool,
    pub batch_sizes: Arc<Mutex<Vec<usize>>>,
    pub loads: Arc<AtomicUsize>,
}

impl Linear {
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
        }
    }

    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }

    pub fn sizes(&self) -> Vec<usize> {
        self.batch_sizes.lock().unwrap().clone()
    }
}

impl ModelHandler for Linear {
    type Example = Vec<f32>;
    type Prediction = f32;
    type Model = LinearModel;
    type Args = ();

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
        _args: &(),
    ) -> Result<Vec<f32>, HandlerError> {
        self.batch_sizes.lock().unwrap().push(batch.len());
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
                Ok(x.iter().zip(&model.weight).map(|(a, w)| a * w).sum::<f32>() + model.bias)
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

/// Engine options with the manual clock and a private model registry (tests run in parallel).
pub fn options(step: &str, clock: &ManualClock) -> tandem_handler::EngineOptions {
    tandem_handler::EngineOptions::new(step)
        .with_clock(Arc::new(clock.clone()))
        .with_manager(Arc::new(tandem_handler::ModelManager::new()))
}

/// `[x, 0, 0, 0]`.
pub fn ex(x: f32) -> Vec<f32> {
    vec![x, 0.0, 0.0, 0.0]
}
