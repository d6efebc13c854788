//! The two models as pipeline pieces: a preprocessing `DoFn` and a `ModelHandler` each, generic
//! over the backend. Preprocessing runs as its own step (as in the reference notebook) so the
//! handlers receive ready pixel arrays and only stack them into a batch tensor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem_blip::{BlipCaptioner, BlipConfig, GenerationConfig};
use tandem_clip::{ClipConfig, ClipModel, Ranked};
use tandem_handler::{BatchConfig, HandlerError, ModelHandler};
use tandem_image::{BlipImageProcessor, ImageProcessor};
use tandem_pipeline::{BoxError, DoFn, Emitter};
use tandem_tensor::{Backend, DType, Tensor};

use crate::images::SharedImage;

/// One preprocessed image: `[3, height, width]` floats. `key` seeds BLIP's sampling streams so
/// an image's captions do not depend on its batch-mates. `Debug` prints only the shape.
#[derive(Clone)]
pub struct Pixels {
    pub key: String,
    pub data: Arc<Vec<f32>>,
    pub height: usize,
    pub width: usize,
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pixels({}, 3x{}x{})", self.key, self.height, self.width)
    }
}

/// Stacks same-sized images into `[n, 3, h, w]`.
fn stack<B: Backend>(backend: &B, batch: &[&Pixels]) -> Result<Tensor<B>, HandlerError> {
    let Some(first) = batch.first() else {
        return Err(HandlerError::inference("empty batch"));
    };
    let (h, w) = (first.height, first.width);
    if let Some(odd) = batch.iter().find(|p| (p.height, p.width) != (h, w)) {
        return Err(HandlerError::inference(format!(
            "{} is {}x{}, the batch is {h}x{w}",
            odd.key, odd.height, odd.width
        )));
    }
    let mut flat = Vec::with_capacity(batch.len() * 3 * h * w);
    for p in batch {
        flat.extend_from_slice(&p.data);
    }
    Tensor::from_slice(backend, &flat, &[batch.len(), 3, h, w]).map_err(HandlerError::inference)
}

fn model_error(dir: &Path, e: impl std::fmt::Display) -> BoxError {
    format!("{}: {e}", dir.display()).into()
}

/// "BLIP preprocess": resize to the checkpoint's square size, rescale, normalise.
#[derive(Clone)]
pub struct BlipPreprocess {
    dir: PathBuf,
    processor: Option<(BlipImageProcessor, (usize, usize))>,
}

impl BlipPreprocess {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BlipPreprocess {
            dir: dir.into(),
            processor: None,
        }
    }
}

impl DoFn for BlipPreprocess {
    type In = (String, SharedImage);
    type Out = (String, Pixels);

    fn setup(&mut self) -> Result<(), BoxError> {
        let cfg = BlipConfig::from_file(self.dir.join("config.json"))
            .map_err(|e| model_error(&self.dir, e))?;
        let p = BlipImageProcessor::from_dir(&self.dir, cfg.vision_config.image_size)
            .map_err(|e| model_error(&self.dir, e))?;
        let size = p.output_size();
        self.processor = Some((p, size));
        Ok(())
    }

    fn process(
        &mut self,
        (key, image): Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let Some((p, (height, width))) = &self.processor else {
            return Err("BLIP preprocessing used before setup".into());
        };
        let data = p.preprocess(&image.0)?;
        out.emit((
            key.clone(),
            Pixels {
                key,
                data: Arc::new(data),
                height: *height,
                width: *width,
            },
        ));
        Ok(())
    }
}

/// BLIP: N candidate captions per image (texts, in generation order).
#[derive(Clone, Debug)]
pub struct BlipCaptionHandler<B: Backend> {
    pub dir: PathBuf,
    pub backend: B,
    pub max_batch_size: usize,
}

impl<B: Backend> ModelHandler for BlipCaptionHandler<B> {
    type Example = Pixels;
    type Prediction = Vec<String>;
    type Model = BlipCaptioner<B>;
    type Args = GenerationConfig;

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        BlipCaptioner::from_dir(&self.dir, &self.backend, DType::F32)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&Pixels],
        model: &Self::Model,
        args: &GenerationConfig,
    ) -> Result<Vec<Vec<String>>, HandlerError> {
        let pixels = stack(model.model.backend(), batch)?;
        let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
        let captions = model
            .caption(&pixels, &keys, args)
            .map_err(HandlerError::inference)?;
        Ok(captions
            .into_iter()
            .map(|cs| cs.into_iter().map(|c| c.text).collect())
            .collect())
    }

    fn model_id(&self) -> String {
        format!("blip:{}:{}", self.dir.display(), self.backend.name())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: self.max_batch_size.max(1),
            ..Default::default()
        }
    }
}

/// An image with the texts CLIP should rank for it.
#[derive(Clone, Debug)]
pub struct ClipRequest {
    pub pixels: Pixels,
    pub captions: Vec<String>,
    /// Kept for the HTML thumbnail (shared, not copied).
    pub image: SharedImage,
}

/// "CLIP preprocess": CLIP's resize + centre crop + normalise of the image, paired with the
/// captions to rank.
#[derive(Clone)]
pub struct ClipPreprocess {
    dir: PathBuf,
    processor: Option<ImageProcessor>,
}

impl ClipPreprocess {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ClipPreprocess {
            dir: dir.into(),
            processor: None,
        }
    }
}

impl DoFn for ClipPreprocess {
    type In = (String, (SharedImage, Vec<String>));
    type Out = (String, ClipRequest);

    fn setup(&mut self) -> Result<(), BoxError> {
        let cfg = ClipConfig::from_file(&self.dir.join("config.json"))
            .map_err(|e| model_error(&self.dir, e))?;
        self.processor = Some(
            ImageProcessor::from_dir(&self.dir, cfg.vision_config.image_size)
                .map_err(|e| model_error(&self.dir, e))?,
        );
        Ok(())
    }

    fn process(
        &mut self,
        (key, (image, captions)): Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let Some(p) = &self.processor else {
            return Err("CLIP preprocessing used before setup".into());
        };
        if captions.is_empty() {
            return Err("no captions to rank".into());
        }
        let (height, width) = match p.crop {
            Some(hw) => hw,
            None => p.resized_size(image.0.height, image.0.width),
        };
        let data = p.preprocess(&image.0)?;
        let pixels = Pixels {
            key: key.clone(),
            data: Arc::new(data),
            height,
            width,
        };
        out.emit((
            key,
            ClipRequest {
                pixels,
                captions,
                image,
            },
        ));
        Ok(())
    }
}

/// CLIP: the request's captions ranked by softmax probability over the image's logits.
#[derive(Clone, Debug)]
pub struct ClipRankPixelsHandler<B: Backend> {
    pub dir: PathBuf,
    pub backend: B,
    pub max_batch_size: usize,
}

impl<B: Backend> ModelHandler for ClipRankPixelsHandler<B> {
    type Example = ClipRequest;
    type Prediction = Ranked;
    type Model = ClipModel<B>;
    type Args = ();

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        ClipModel::load(&self.dir, &self.backend, DType::F32)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&ClipRequest],
        model: &Self::Model,
        _args: &(),
    ) -> Result<Vec<Ranked>, HandlerError> {
        let pixels: Vec<&Pixels> = batch.iter().map(|r| &r.pixels).collect();
        let tensor = stack(&self.backend, &pixels)?;
        let captions: Vec<Vec<&str>> = batch
            .iter()
            .map(|r| r.captions.iter().map(String::as_str).collect())
            .collect();
        let refs: Vec<&[&str]> = captions.iter().map(Vec::as_slice).collect();
        model
            .rank_pixels(&tensor, &refs)
            .map_err(HandlerError::inference)
    }

    fn model_id(&self) -> String {
        format!("clip:{}:{}", self.dir.display(), self.backend.name())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: self.max_batch_size.max(1),
            ..Default::default()
        }
    }

    fn element_weight(&self, example: &ClipRequest) -> u64 {
        example.captions.len() as u64 + 4
    }
}
