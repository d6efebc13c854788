//! [`ClipModel`]: both towers, the projections and `logit_scale`, with the tokenizer and image
//! processor of the checkpoint, and the ranking API.

use crate::config::ClipConfig;
use crate::error::{ClipError, Result};
use crate::text::{ClipTextTower, TextOutput};
use crate::tokenizer::{ClipTokenizer, TokenBatch};
use crate::vision::{ClipVisionTower, VisionOutput};
use std::path::{Path, PathBuf};
use tandem_image::ImageProcessor;
use tandem_image::RgbImage;
use tandem_nn::{Linear, Weights};
use tandem_tensor::{Backend, DType, Tensor};

/// A loaded CLIP model. Immutable after loading and `Sync`: one instance serves concurrent
/// requests.
#[derive(Clone)]
pub struct ClipModel<B: Backend> {
    config: ClipConfig,
    vision: ClipVisionTower<B>,
    text: ClipTextTower<B>,
    visual_projection: Linear<B>,
    text_projection: Linear<B>,
    /// `logit_scale.exp()`, read once at load time.
    logit_scale: f32,
    tokenizer: Option<ClipTokenizer>,
    processor: ImageProcessor,
}

/// One caption and its probability among the candidates.
pub type Ranked = Vec<(String, f32)>;

/// The safetensors files of a checkpoint directory: `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).map_err(|source| ClipError::Io {
        path: index.clone(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ClipError::config(index.display().to_string(), e.to_string()))?;
    let map = v["weight_map"]
        .as_object()
        .ok_or_else(|| ClipError::config(index.display().to_string(), "no `weight_map` object"))?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

impl<B: Backend> ClipModel<B> {
    /// Loads a Hugging Face CLIP checkpoint directory as it is: `config.json`, the weights,
    /// `tokenizer.json` (or `vocab.json` + `merges.txt`) and `preprocessor_config.json`.
    /// Weights are converted to `dtype` on the device.
    pub fn load(dir: &Path, backend: &B, dtype: DType) -> Result<Self> {
        let config = ClipConfig::from_file(&dir.join("config.json"))?;
        let files = weight_files(dir)?;
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let weights = Weights::from_files(&paths, backend, dtype)?;
        let tokenizer = ClipTokenizer::from_dir(dir, config.text_config.max_position_embeddings)?;
        let processor = ImageProcessor::from_dir(dir, config.vision_config.image_size)?;
        Self::from_weights(config, &weights, Some(tokenizer), processor)
    }

    /// Builds from already-mapped weights (no tokenizer: use the `*_from_tokens` methods).
    /// Fails with one error listing every missing, unexpected or mis-shaped tensor.
    pub fn from_weights(
        config: ClipConfig,
        w: &Weights<B>,
        tokenizer: Option<ClipTokenizer>,
        processor: ImageProcessor,
    ) -> Result<Self> {
        config.validate()?;
        let (tv, vv, p) = (
            config.text_config.hidden_size,
            config.vision_config.hidden_size,
            config.projection_dim,
        );
        let vision = ClipVisionTower::load(&w.prefix("vision_model"), &config)?;
        let text = ClipTextTower::load(&w.prefix("text_model"), &config)?;
        let visual_projection = Linear::load(&w.prefix("visual_projection"), vv, p, false)?;
        let text_projection = Linear::load(&w.prefix("text_projection"), tv, p, false)?;
        let scale = w.get("logit_scale", &[])?;
        w.finish()?;
        let logit_scale = scale.to_vec_f32()?[0].exp();
        Ok(ClipModel {
            config,
            vision,
            text,
            visual_projection,
            text_projection,
            logit_scale,
            tokenizer,
            processor,
        })
    }

    pub fn config(&self) -> &ClipConfig {
        &self.config
    }
    pub fn processor(&self) -> &ImageProcessor {
        &self.processor
    }
    pub fn tokenizer(&self) -> Option<&ClipTokenizer> {
        self.tokenizer.as_ref()
    }
    /// `logit_scale.exp()`.
    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    fn backend(&self) -> &B {
        self.visual_projection.backend()
    }

    fn tok(&self) -> Result<&ClipTokenizer> {
        self.tokenizer
            .as_ref()
            .ok_or_else(|| ClipError::tokenizer("this model was built without a tokenizer"))
    }

    /// Tokenizes and pads captions.
    pub fn tokenize(&self, captions: &[&str]) -> Result<TokenBatch> {
        self.tok()?.encode_batch(captions)
    }

    /// `pixel_values` `[n, 3, size, size]` of images, in the compute dtype.
    pub fn pixel_values(&self, images: &[&RgbImage]) -> Result<Tensor<B>> {
        let dtype = self.visual_projection.dtype();
        Ok(self
            .processor
            .pixel_values(self.backend(), images)?
            .to_dtype(dtype)?)
    }

    pub fn vision_forward(&self, pixel_values: &Tensor<B>) -> Result<VisionOutput<B>> {
        self.vision.forward(pixel_values)
    }
    pub fn text_forward(&self, tokens: &TokenBatch) -> Result<TextOutput<B>> {
        self.text.forward(tokens)
    }

    /// `get_image_features`: projected pooled vision output `[n, projection_dim]`, not normalised.
    pub fn image_features_from_pixels(&self, pixel_values: &Tensor<B>) -> Result<Tensor<B>> {
        Ok(self
            .visual_projection
            .forward(&self.vision.forward(pixel_values)?.pooled)?)
    }

    /// Image features of decoded images, all in one forward pass.
    pub fn image_features(&self, images: &[&RgbImage]) -> Result<Tensor<B>> {
        self.image_features_from_pixels(&self.pixel_values(images)?)
    }

    /// `get_text_features`: projected pooled text output `[n, projection_dim]`, not normalised.
    pub fn text_features_from_tokens(&self, tokens: &TokenBatch) -> Result<Tensor<B>> {
        Ok(self
            .text_projection
            .forward(&self.text.forward(tokens)?.pooled)?)
    }

    /// Text features of captions, padded into one forward pass.
    pub fn text_features(&self, captions: &[&str]) -> Result<Tensor<B>> {
        self.text_features_from_tokens(&self.tokenize(captions)?)
    }

    /// `logits_per_image` `[n_images, n_texts]`: cosine similarity of the L2-normalised
    /// features times `logit_scale.exp()`.
    pub fn logits_per_image(
        &self,
        image_features: &Tensor<B>,
        text_features: &Tensor<B>,
    ) -> Result<Tensor<B>> {
        let img = image_features.l2_normalize(0.0)?;
        let txt = text_features.l2_normalize(0.0)?;
        Ok(img.matmul(&txt.transpose(0, 1)?)?.scale(self.logit_scale)?)
    }

    /// Captions ranked for one image: softmax over the captions, sorted by probability
    /// (descending; ties keep caption order).
    pub fn rank(&self, image: &RgbImage, captions: &[&str]) -> Result<Ranked> {
        let mut out = self.rank_many(&[(image, captions)])?;
        out.pop()
            .ok_or_else(|| ClipError::input("rank", "no result"))
    }

    /// Many (image, captions) requests at once: every image in one vision forward, every caption
    /// of every request in one padded text forward; each image is encoded once however many
    /// captions it has.
    pub fn rank_many(&self, requests: &[(&RgbImage, &[&str])]) -> Result<Vec<Ranked>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let images: Vec<&RgbImage> = requests.iter().map(|(img, _)| *img).collect();
        let captions: Vec<&[&str]> = requests.iter().map(|(_, c)| *c).collect();
        self.rank_pixels(&self.pixel_values(&images)?, &captions)
    }

    /// [`ClipModel::rank_many`] from preprocessed `pixel_values` `[n, 3, s, s]`, one caption list
    /// per image.
    pub fn rank_pixels(
        &self,
        pixel_values: &Tensor<B>,
        captions: &[&[&str]],
    ) -> Result<Vec<Ranked>> {
        if pixel_values.rank() != 4 || pixel_values.dims()[0] != captions.len() {
            return Err(ClipError::input(
                "rank",
                format!(
                    "{} caption lists for pixel_values {:?}",
                    captions.len(),
                    pixel_values.dims()
                ),
            ));
        }
        if let Some(i) = captions.iter().position(|c| c.is_empty()) {
            return Err(ClipError::input(
                "rank",
                format!("request {i} has no candidate captions"),
            ));
        }
        let all: Vec<&str> = captions.iter().flat_map(|c| c.iter().copied()).collect();
        let image_features = self.image_features_from_pixels(pixel_values)?;
        let text_features = self.text_features(&all)?;
        let logits = self
            .logits_per_image(&image_features, &text_features)?
            .to_vec_f32()?;
        let nt = all.len();
        let mut start = 0;
        let mut out = Vec::with_capacity(captions.len());
        for (i, caps) in captions.iter().enumerate() {
            let row = &logits[i * nt + start..i * nt + start + caps.len()];
            out.push(rank_row(row, caps));
            start += caps.len();
        }
        Ok(out)
    }
}

/// Softmax of one row of logits, paired with the captions and sorted by probability.
pub fn rank_row(logits: &[f32], captions: &[&str]) -> Ranked {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    let mut ranked: Vec<(String, f32)> = captions
        .iter()
        .zip(&exps)
        .map(|(c, e)| (c.to_string(), e / sum))
        .collect();
    // Stable sort: equal probabilities keep the order the captions were given in.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}
