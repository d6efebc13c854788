//! `BlipForConditionalGeneration`: the image encoder and the text decoder, loaded from a
//! Hugging Face checkpoint directory as it is.

use crate::config::BlipConfig;
use crate::error::{BlipError, Result};
use crate::generation::ContinuousBatcher;
use crate::text::{BlipTextDecoder, ImageContext};
use crate::tokenizer::BlipTokenizer;
use crate::vision::{BlipVisionModel, VisionOutput};
use std::path::Path;
use std::sync::Arc;
use tandem_image::BlipImageProcessor;
use tandem_nn::Weights;
use tandem_tensor::{Backend, DType, Tensor};

/// A loaded captioning model. Immutable while serving (`Sync` when the backend is): every
/// piece of per-request state lives in the generation functions' locals.
#[derive(Clone, Debug)]
pub struct BlipModel<B: Backend> {
    pub config: BlipConfig,
    pub vision: BlipVisionModel<B>,
    pub text: BlipTextDecoder<B>,
    backend: B,
    /// Which load the weights come from (clones share it): decode batches only mix rows of
    /// one model's requests.
    weights_id: Arc<()>,
}

/// A model with the tokenizer and image processor of its checkpoint.
#[derive(Clone)]
pub struct BlipCaptioner<B: Backend> {
    pub model: BlipModel<B>,
    pub tokenizer: BlipTokenizer,
    pub processor: BlipImageProcessor,
    /// Shares decoder steps between concurrent [`BlipCaptioner::caption`] calls (clones share
    /// it, as they share the weights).
    batcher: Arc<ContinuousBatcher<B>>,
}

impl<B: Backend> BlipModel<B> {
    /// Builds from mapped weights (names as in `BlipForConditionalGeneration.state_dict()`);
    /// every missing, mis-shaped or unused tensor is reported at once.
    pub fn from_weights(config: BlipConfig, weights: &Weights<B>) -> Result<Self> {
        config.validate()?;
        let vision = BlipVisionModel::load(&weights.prefix("vision_model"), &config.vision_config)?;
        let text = BlipTextDecoder::load(&weights.prefix("text_decoder"), &config)?;
        weights.finish()?;
        Ok(BlipModel {
            config,
            vision,
            text,
            backend: weights.backend().clone(),
            weights_id: Arc::default(),
        })
    }

    /// A token equal (`Arc::ptr_eq`) for this model and its clones, and only for them.
    pub(crate) fn weights_id(&self) -> &Arc<()> {
        &self.weights_id
    }

    /// `config.json` + `model.safetensors` of `dir`, computing in `dtype`.
    pub fn from_dir(dir: impl AsRef<Path>, backend: &B, dtype: DType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = BlipConfig::from_file(dir.join("config.json"))?;
        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            return Err(BlipError::Io {
                path: weights_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no model.safetensors in the checkpoint directory",
                ),
            });
        }
        let weights = Weights::from_file(&weights_path, backend, dtype)?;
        Self::from_weights(config, &weights)
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Runs the image encoder on preprocessed `pixels: [n, 3, size, size]`.
    pub fn encode_images(&self, pixels: &Tensor<B>) -> Result<VisionOutput<B>> {
        self.vision.forward(pixels)
    }

    /// Image tokens → cross-attention keys/values of every decoder layer (once per image).
    pub fn image_context(&self, image_embeds: &Tensor<B>) -> Result<ImageContext<B>> {
        self.text.image_context(image_embeds)
    }
}

impl<B: Backend> BlipCaptioner<B> {
    /// A captioner from its parts (with a batcher of its own).
    pub fn new(
        model: BlipModel<B>,
        tokenizer: BlipTokenizer,
        processor: BlipImageProcessor,
    ) -> Self {
        BlipCaptioner {
            model,
            tokenizer,
            processor,
            batcher: Arc::default(),
        }
    }

    /// The batcher through which [`BlipCaptioner::caption`] decodes.
    pub fn batcher(&self) -> &ContinuousBatcher<B> {
        &self.batcher
    }

    /// Model, tokenizer and image processor of a checkpoint directory.
    pub fn from_dir(dir: impl AsRef<Path>, backend: &B, dtype: DType) -> Result<Self> {
        let dir = dir.as_ref();
        let model = BlipModel::from_dir(dir, backend, dtype)?;
        let processor = BlipImageProcessor::from_dir(dir, model.config.vision_config.image_size)?;
        let size = model.config.vision_config.image_size;
        if processor.output_size() != (size, size) {
            return Err(BlipError::config(
                "preprocessor_config.json size",
                format!(
                    "{:?} does not match the model's image size {size}",
                    processor.output_size()
                ),
            ));
        }
        Ok(BlipCaptioner::new(
            model,
            BlipTokenizer::from_dir(dir)?,
            processor,
        ))
    }
}
