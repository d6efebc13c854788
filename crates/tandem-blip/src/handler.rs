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
use tandem_image::RgbImage;
use tandem_tensor::{CpuBackend, DType};

/// One decoded image (see [`crate::open_image`] / [`crate::decode_image`]); `key` identifies it
/// (its random streams derive from it).
#[derive(Clone, Debug)]
pub struct BlipImage {
    pub key: String,
    pub image: RgbImage,
}

/// Loads a checkpoint directory on the CPU backend in f32.
#[derive(Clone, Debug)]
pub struct BlipHandler {
    pub checkpoint: PathBuf,
    pub max_batch_size: usize,
}

impl BlipHandler {
    pub fn new(checkpoint: impl Into<PathBuf>) -> Self {
        BlipHandler {
            checkpoint: checkpoint.into(),
            max_batch_size: 4,
        }
    }
}

impl ModelHandler for BlipHandler {
    type Example = BlipImage;
    type Prediction = Vec<Caption>;
    type Model = BlipCaptioner<CpuBackend>;
    type Args = GenerationConfig;

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        BlipCaptioner::from_dir(&self.checkpoint, &CpuBackend, DType::F32)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&BlipImage],
        model: &Self::Model,
        args: &GenerationConfig,
    ) -> Result<Vec<Vec<Caption>>, HandlerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let images: Vec<&RgbImage> = batch.iter().map(|i| &i.image).collect();
        let keys: Vec<&str> = batch.iter().map(|i| i.key.as_str()).collect();
        model
            .caption_images(&images, &keys, args)
            .map_err(HandlerError::inference)
    }

    fn model_id(&self) -> String {
        format!("blip:{}", self.checkpoint.display())
    }

    fn batch_config(&self) -> tandem_handler::BatchConfig {
        tandem_handler::BatchConfig {
            max_batch_size: self.max_batch_size,
            ..Default::default()
        }
    }
}
