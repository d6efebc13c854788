//! [`BlipHandler`]: a `tandem-handler` [`ModelHandler`] turning images into N captions each,
//! with the generation settings as `inference_args`.
//!
//! The loaded model is shared by every batch in flight; each `run_inference` call owns its
//! generation state, so concurrent batches do not interfere. A batch decodes all its images
//! together (one vision pass, one decode batch); each image's sampling stream is keyed by its
//! `key`, so its captions do not depend on its batch-mates.

use crate::generation::{Caption, GenerationConfig};
use crate::model::BlipCaptioner;
use std::path::PathBuf;
use tandem_handler::{HandlerError, ModelHandler};
use tandem_tensor::{CpuBackend, DType, Tensor};

/// One preprocessed image: `pixels` is `[3, size, size]` row-major (`BlipImageProcessor`
/// output for one image), `key` identifies it (its random streams derive from it).
#[derive(Clone, Debug)]
pub struct BlipImage {
    pub key: String,
    pub pixels: Vec<f32>,
}

/// Loads a checkpoint directory on the CPU backend in f32.
#[derive(Clone, Debug)]
pub struct BlipHandler {
    pub checkpoint: PathBuf,
    pub max_batch_size: usize,
}

impl BlipHandler {
    pub fn new(checkpoint: impl Into<PathBuf>) -> Self {
        BlipHandler { checkpoint: checkpoint.into(), max_batch_size: 4 }
    }
}

impl ModelHandler for BlipHandler {
    type Example = BlipImage;
    type Prediction = Vec<Caption>;
    type Model = BlipCaptioner<CpuBackend>;
    type Args = GenerationConfig;

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        BlipCaptioner::from_dir(&self.checkpoint, &CpuBackend, DType::F32).map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(&self, batch: &[&BlipImage], model: &Self::Model, args: &GenerationConfig) -> Result<Vec<Vec<Caption>>, HandlerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let v = &model.model.config.vision_config;
        let per_image = v.num_channels * v.image_size * v.image_size;
        let mut flat = Vec::with_capacity(per_image * batch.len());
        for image in batch {
            if image.pixels.len() != per_image {
                return Err(HandlerError::inference(format!(
                    "image `{}`: {} pixel values, expected {per_image} ([{}, {}, {}])",
                    image.key,
                    image.pixels.len(),
                    v.num_channels,
                    v.image_size,
                    v.image_size
                )));
            }
            flat.extend_from_slice(&image.pixels);
        }
        let pixels = Tensor::from_slice(&CpuBackend, &flat, &[batch.len(), v.num_channels, v.image_size, v.image_size])
            .map_err(HandlerError::inference)?;
        let keys: Vec<&str> = batch.iter().map(|i| i.key.as_str()).collect();
        model.caption(&pixels, &keys, args).map_err(HandlerError::inference)
    }

    fn model_id(&self) -> String {
        format!("blip:{}", self.checkpoint.display())
    }

    fn batch_config(&self) -> tandem_handler::BatchConfig {
        tandem_handler::BatchConfig { max_batch_size: self.max_batch_size, ..Default::default() }
    }
}
