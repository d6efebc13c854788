//! [`BlipHandler`]: a `tandem-handler` [`ModelHandler`] turning images into N captions each,
//! with the generation settings as `inference_args`, on any [`Backend`].
//!
//! The loaded model is shared by every batch in flight; each `run_inference` call owns its
//! generation state, so concurrent batches do not interfere. A batch decodes all its images
//! together (one vision pass, one decode batch); each image's sampling stream is keyed by its
//! `key`, so its captions do not depend on its batch-mates.
//!
//! The examples are decoded images ([`BlipImage`], preprocessed inside the batch call) or
//! images already preprocessed by a pipeline step of their own ([`Pixels`]); both go through
//! the same handler, chosen by its example type ([`BlipExample`]).

use std::borrow::Cow;
use std::marker::PhantomData;
use std::path::PathBuf;

use tandem_handler::{BatchConfig, HandlerError, ModelHandler};
use tandem_image::{stack_pixels, BlipImageProcessor, Pixels, RgbImage};
use tandem_tensor::{Backend, DType};

use crate::error::BlipError;
use crate::generation::{Caption, GenerationConfig};
use crate::model::BlipCaptioner;

/// One decoded image (see [`crate::open_image`] / [`crate::decode_image`]); `key` identifies it
/// (its random streams derive from it).
#[derive(Clone, Debug)]
pub struct BlipImage {
    pub key: String,
    pub image: RgbImage,
}

/// What [`BlipHandler`] captions: an image with a key, as preprocessed `pixel_values`.
pub trait BlipExample: Send + 'static {
    /// The image's identity; its sampling streams derive from it.
    fn key(&self) -> &str;

    /// The image as `[3, h, w]` pixel values of the checkpoint's `processor`
    /// (`BlipImageProcessor`): borrowed when already preprocessed, computed otherwise.
    fn pixels(&self, processor: &BlipImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>>;
}

impl BlipExample for BlipImage {
    fn key(&self) -> &str {
        &self.key
    }

    fn pixels(&self, processor: &BlipImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>> {
        let (height, width) = processor.output_size();
        Ok(Cow::Owned(Pixels {
            key: self.key.clone(),
            data: processor.preprocess(&self.image)?.into(),
            height,
            width,
        }))
    }
}

/// Already preprocessed (a `BlipImageProcessor` step ran before RunInference).
impl BlipExample for Pixels {
    fn key(&self) -> &str {
        &self.key
    }

    fn pixels(&self, _processor: &BlipImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>> {
        Ok(Cow::Borrowed(self))
    }
}

/// Serves a `BlipForConditionalGeneration` checkpoint directory on `backend` in `dtype`:
/// examples `E` ([`BlipImage`] by default, or [`Pixels`]) in, candidate captions (in
/// generation order) out.
pub struct BlipHandler<B: Backend, E = BlipImage> {
    checkpoint: PathBuf,
    backend: B,
    dtype: DType,
    batch: BatchConfig,
    _example: PhantomData<fn(E)>,
}

impl<B: Backend, E> Clone for BlipHandler<B, E> {
    fn clone(&self) -> Self {
        BlipHandler {
            checkpoint: self.checkpoint.clone(),
            backend: self.backend.clone(),
            dtype: self.dtype,
            batch: self.batch.clone(),
            _example: PhantomData,
        }
    }
}

impl<B: Backend, E> std::fmt::Debug for BlipHandler<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlipHandler")
            .field("checkpoint", &self.checkpoint)
            .field("backend", &self.backend.name())
            .field("dtype", &self.dtype)
            .field("batch", &self.batch)
            .finish()
    }
}

impl<B: Backend, E> BlipHandler<B, E> {
    /// Serves the checkpoint in `checkpoint` on `backend`, computing in `dtype`, in batches of
    /// up to 4 images.
    pub fn new(checkpoint: impl Into<PathBuf>, backend: B, dtype: DType) -> Self {
        BlipHandler {
            checkpoint: checkpoint.into(),
            backend,
            dtype,
            batch: BatchConfig {
                max_batch_size: 4,
                ..Default::default()
            },
            _example: PhantomData,
        }
    }

    /// Overrides the batching settings.
    pub fn with_batch_config(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// Caps a batch at `max_batch_size` images (at least 1), other settings unchanged.
    pub fn with_max_batch_size(mut self, max_batch_size: usize) -> Self {
        self.batch.max_batch_size = max_batch_size.max(1);
        self
    }
}

impl<B: Backend, E: BlipExample> ModelHandler for BlipHandler<B, E> {
    type Example = E;
    type Prediction = Vec<Caption>;
    type Model = BlipCaptioner<B>;
    type Args = GenerationConfig;

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        BlipCaptioner::from_dir(&self.checkpoint, &self.backend, self.dtype)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&E],
        model: &Self::Model,
        args: &GenerationConfig,
    ) -> Result<Vec<Vec<Caption>>, HandlerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let pixels: Vec<Cow<'_, Pixels>> = batch
            .iter()
            .map(|e| e.pixels(&model.processor))
            .collect::<Result<_, _>>()
            .map_err(|e| HandlerError::from(BlipError::from(e)))?;
        let refs: Vec<&Pixels> = pixels.iter().map(|p| &**p).collect();
        let tensor = stack_pixels(model.model.backend(), &refs)
            .map_err(|e| HandlerError::from(BlipError::from(e)))?;
        let keys: Vec<&str> = batch.iter().map(|e| e.key()).collect();
        Ok(model.caption(&tensor, &keys, args)?)
    }

    fn model_id(&self) -> String {
        format!(
            "blip:{}:{}:{}",
            self.checkpoint.display(),
            self.backend.name(),
            self.dtype
        )
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch.clone()
    }
}
