//! CLIP's vision tower: ViT embeddings, `pre_layrnorm` (sic, the checkpoint's name), pre-norm
//! encoder layers, and `post_layernorm` on the class token.

use crate::config::ClipConfig;
use crate::error::Result;
use tandem_nn::{LayerNorm, PreNormBlock, VisionEmbeddings, Weights};
use tandem_tensor::{Backend, Tensor};

#[derive(Clone, Debug)]
pub struct ClipVisionTower<B: Backend> {
    embeddings: VisionEmbeddings<B>,
    pre_norm: LayerNorm<B>,
    layers: Vec<PreNormBlock<B>>,
    post_norm: LayerNorm<B>,
}

/// Outputs of the vision tower.
#[derive(Clone, Debug)]
pub struct VisionOutput<B: Backend> {
    /// `[b, patches + 1, hidden]`.
    pub last_hidden_state: Tensor<B>,
    /// `post_layernorm(last_hidden_state[:, 0])`, `[b, hidden]`.
    pub pooled: Tensor<B>,
}

impl<B: Backend> ClipVisionTower<B> {
    /// Loads `vision_model.*` (pass `w.prefix("vision_model")`).
    pub fn load(w: &Weights<B>, cfg: &ClipConfig) -> Result<Self> {
        let v = &cfg.vision_config;
        let block = cfg.vision_block()?;
        let eps = v.layer_norm_eps as f32;
        Ok(ClipVisionTower {
            embeddings: VisionEmbeddings::load_clip(
                &w.prefix("embeddings"),
                v.num_channels,
                v.image_size,
                v.patch_size,
                v.hidden_size,
            )?,
            pre_norm: LayerNorm::load(&w.prefix("pre_layrnorm"), v.hidden_size, eps)?,
            layers: (0..v.num_hidden_layers)
                .map(|i| PreNormBlock::load_clip(&w.prefix(&format!("encoder.layers.{i}")), &block))
                .collect::<tandem_nn::Result<Vec<_>>>()?,
            post_norm: LayerNorm::load(&w.prefix("post_layernorm"), v.hidden_size, eps)?,
        })
    }

    /// `pixel_values: [b, channels, image_size, image_size]`.
    pub fn forward(&self, pixel_values: &Tensor<B>) -> Result<VisionOutput<B>> {
        let mut x = self
            .pre_norm
            .forward(&self.embeddings.forward(pixel_values)?)?;
        for layer in &self.layers {
            x = layer.forward(&x, None, false)?;
        }
        let class = x.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = self.post_norm.forward(&class)?;
        Ok(VisionOutput {
            last_hidden_state: x,
            pooled,
        })
    }
}
