//! BLIP's ViT image encoder (`vision_model.*`): patch embedding with a bias, class token,
//! learned positions, pre-norm blocks whose attention has one fused `qkv` projection, and a
//! final `post_layernorm`.

use crate::config::BlipVisionConfig;
use crate::error::Result;
use tandem_nn::{
    activation, Attention, LayerNorm, Linear, Mlp, PreNormBlock, QkvProjection, VisionEmbeddings,
    Weights,
};
use tandem_tensor::{Backend, Tensor};

/// The image encoder. Holds only weights (`Sync`): encoding has no per-request state.
#[derive(Clone, Debug)]
pub struct BlipVisionModel<B: Backend> {
    embeddings: VisionEmbeddings<B>,
    layers: Vec<PreNormBlock<B>>,
    post_layernorm: LayerNorm<B>,
}

/// What the encoder returns (as `BlipVisionModel` in `transformers`).
#[derive(Clone, Debug)]
pub struct VisionOutput<B: Backend> {
    /// `[b, patches + 1, dim]`, after `post_layernorm`: the tokens the decoder attends to.
    pub last_hidden_state: Tensor<B>,
    /// `[b, dim]`: `post_layernorm` applied once more to the class token (as `transformers` does).
    pub pooler_output: Tensor<B>,
}

impl<B: Backend> BlipVisionModel<B> {
    /// Loads from `w` = `weights.prefix("vision_model")`.
    pub fn load(w: &Weights<B>, c: &BlipVisionConfig) -> Result<Self> {
        let d = c.hidden_size;
        let p = c.patch_size;
        let e = w.prefix("embeddings");
        let embeddings = VisionEmbeddings::new(
            e.get("patch_embedding.weight", &[d, c.num_channels, p, p])?,
            Some(e.get("patch_embedding.bias", &[d])?),
            e.get("class_embedding", &[1, 1, d])?,
            e.get("position_embedding", &[1, c.num_positions(), d])?,
            c.image_size,
        )?;
        let act = activation(&c.hidden_act)?;
        let eps = c.layer_norm_eps as f32;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = w.prefix(&format!("encoder.layers.{i}"));
            let qkv =
                QkvProjection::Fused(Linear::load(&l.prefix("self_attn.qkv"), d, 3 * d, true)?);
            let projection = Linear::load(&l.prefix("self_attn.projection"), d, d, true)?;
            layers.push(PreNormBlock {
                norm1: LayerNorm::load(&l.prefix("layer_norm1"), d, eps)?,
                attn: Attention::new(qkv, projection, c.num_attention_heads)?,
                norm2: LayerNorm::load(&l.prefix("layer_norm2"), d, eps)?,
                mlp: Mlp::load(&l.prefix("mlp"), d, c.intermediate_size, act)?,
            });
        }
        let post_layernorm = LayerNorm::load(&w.prefix("post_layernorm"), d, eps)?;
        Ok(BlipVisionModel {
            embeddings,
            layers,
            post_layernorm,
        })
    }

    /// `pixels: [b, 3, size, size]` (preprocessed) → encoder outputs.
    pub fn forward(&self, pixels: &Tensor<B>) -> Result<VisionOutput<B>> {
        let mut x = self.embeddings.forward(pixels)?;
        for layer in &self.layers {
            x = layer.forward(&x, None, false)?;
        }
        let last_hidden_state = self.post_layernorm.forward(&x)?;
        let cls = last_hidden_state.narrow(1, 0, 1)?.squeeze(1)?;
        let pooler_output = self.post_layernorm.forward(&cls)?;
        Ok(VisionOutput {
            last_hidden_state,
            pooler_output,
        })
    }
}
