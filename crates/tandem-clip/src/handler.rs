//! [`ClipRankHandler`]: CLIP caption ranking as a `tandem_handler::ModelHandler`, on any
//! [`Backend`].
//!
//! Input: an image and its candidate captions; output: the captions ranked by probability.
//! The image comes decoded ([`RankRequest`], preprocessed inside the batch call) or already
//! preprocessed by a pipeline step of its own (any type implementing [`RankExample`] with
//! [`Pixels`], e.g. [`PixelRankRequest`]). Keyed use needs nothing extra:
//! `ClipRankHandler::new(..).keyed::<K>()` carries a key (e.g. the image id) through to each
//! result.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use tandem_handler::{BatchConfig, HandlerError, ModelHandler};
use tandem_image::{stack_pixels, ImageProcessor, Pixels, RgbImage};
use tandem_tensor::{Backend, DType};

use crate::error::ClipError;
use crate::model::{ClipModel, Ranked};

/// What [`ClipRankHandler`] ranks: an image as `pixel_values`, and the captions to rank for it.
pub trait RankExample: Send + 'static {
    /// The captions to rank (at least one).
    fn captions(&self) -> &[String];

    /// The image as `[3, h, w]` pixel values of the checkpoint's `processor`
    /// (`CLIPImageProcessor`): borrowed when already preprocessed, computed otherwise.
    fn pixels(&self, processor: &ImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>>;
}

/// One ranking request for a decoded image. The image is shared (`Arc`) so a pipeline that
/// also captions it does not copy the pixels.
#[derive(Clone, Debug)]
pub struct RankRequest {
    pub image: Arc<RgbImage>,
    pub captions: Vec<String>,
}

impl RankExample for RankRequest {
    fn captions(&self) -> &[String] {
        &self.captions
    }

    fn pixels(&self, processor: &ImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>> {
        let (height, width) = match processor.crop {
            Some(hw) => hw,
            None => processor.resized_size(self.image.height, self.image.width),
        };
        Ok(Cow::Owned(Pixels {
            key: String::from("image"),
            data: processor.preprocess(&self.image)?.into(),
            height,
            width,
        }))
    }
}

/// One ranking request for an image a pipeline step already preprocessed.
#[derive(Clone, Debug)]
pub struct PixelRankRequest {
    pub pixels: Pixels,
    pub captions: Vec<String>,
}

impl RankExample for PixelRankRequest {
    fn captions(&self) -> &[String] {
        &self.captions
    }

    fn pixels(&self, _processor: &ImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>> {
        Ok(Cow::Borrowed(&self.pixels))
    }
}

/// Loads a CLIP checkpoint directory once per process and ranks batches of requests `E`
/// ([`RankRequest`] by default): all images of a batch in one vision forward, all their
/// captions in one text forward.
pub struct ClipRankHandler<B: Backend, E = RankRequest> {
    dir: PathBuf,
    backend: B,
    dtype: DType,
    batch: BatchConfig,
    _example: PhantomData<fn(E)>,
}

impl<B: Backend, E> Clone for ClipRankHandler<B, E> {
    fn clone(&self) -> Self {
        ClipRankHandler {
            dir: self.dir.clone(),
            backend: self.backend.clone(),
            dtype: self.dtype,
            batch: self.batch.clone(),
            _example: PhantomData,
        }
    }
}

impl<B: Backend, E> std::fmt::Debug for ClipRankHandler<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipRankHandler")
            .field("dir", &self.dir)
            .field("backend", &self.backend.name())
            .field("dtype", &self.dtype)
            .field("batch", &self.batch)
            .finish()
    }
}

impl<B: Backend, E> ClipRankHandler<B, E> {
    /// Serves the checkpoint in `dir` on `backend`, computing in `dtype`.
    pub fn new(dir: impl Into<PathBuf>, backend: B, dtype: DType) -> Self {
        ClipRankHandler {
            dir: dir.into(),
            backend,
            dtype,
            batch: BatchConfig::default(),
            _example: PhantomData,
        }
    }

    /// Overrides the batching settings.
    pub fn with_batch_config(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// Caps a batch at `max_batch_size` requests (at least 1), other settings unchanged.
    pub fn with_max_batch_size(mut self, max_batch_size: usize) -> Self {
        self.batch.max_batch_size = max_batch_size.max(1);
        self
    }
}

impl<B: Backend, E: RankExample> ModelHandler for ClipRankHandler<B, E> {
    type Example = E;
    type Prediction = Ranked;
    type Model = ClipModel<B>;
    type Args = ();

    fn load_model(&self) -> Result<ClipModel<B>, HandlerError> {
        ClipModel::load(&self.dir, &self.backend, self.dtype)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&E],
        model: &ClipModel<B>,
        _args: &(),
    ) -> Result<Vec<Ranked>, HandlerError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let pixels: Vec<Cow<'_, Pixels>> = batch
            .iter()
            .map(|e| e.pixels(model.processor()))
            .collect::<Result<_, _>>()
            .map_err(|e| HandlerError::from(ClipError::from(e)))?;
        let refs: Vec<&Pixels> = pixels.iter().map(|p| &**p).collect();
        let tensor = stack_pixels(&self.backend, &refs)
            .and_then(|t| Ok(t.to_dtype(self.dtype)?))
            .map_err(|e| HandlerError::from(ClipError::from(e)))?;
        let captions: Vec<Vec<&str>> = batch
            .iter()
            .map(|r| r.captions().iter().map(String::as_str).collect())
            .collect();
        let refs: Vec<&[&str]> = captions.iter().map(Vec::as_slice).collect();
        Ok(model.rank_pixels(&tensor, &refs)?)
    }

    fn model_id(&self) -> String {
        format!(
            "clip:{}:{}:{}",
            self.dir.display(),
            self.backend.name(),
            self.dtype
        )
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch.clone()
    }

    /// Captions dominate the text forward's cost; an image costs about as much as a few.
    fn element_weight(&self, example: &E) -> u64 {
        example.captions().len() as u64 + 4
    }
}
