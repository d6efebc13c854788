//! Transformer blocks: pre-norm (CLIP, ViT, BLIP vision) and post-norm (BERT, BLIP text).

use crate::attention::Attention;
use crate::error::Result;
use crate::layer_norm::LayerNorm;
use crate::linear::Linear;
use crate::mlp::Mlp;
use crate::weights::Weights;
use crate::QkvProjection;
use tandem_tensor::{Activation, Backend, Tensor};

/// Sizes of one transformer block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockConfig {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub act: Activation,
    pub eps: f32,
}

/// `h = x + attn(norm1(x)); out = h + mlp(norm2(h))`.
#[derive(Clone, Debug)]
pub struct PreNormBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: Attention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp: Mlp<B>,
}

impl<B: Backend> PreNormBlock<B> {
    /// CLIP names: `layer_norm1`, `self_attn.{q,k,v,out}_proj`, `layer_norm2`, `mlp.fc{1,2}`.
    pub fn load_clip(w: &Weights<B>, c: &BlockConfig) -> Result<Self> {
        Ok(PreNormBlock {
            norm1: LayerNorm::load(&w.prefix("layer_norm1"), c.hidden, c.eps)?,
            attn: Attention::load_qkv_proj(&w.prefix("self_attn"), c.hidden, c.hidden, c.heads)?,
            norm2: LayerNorm::load(&w.prefix("layer_norm2"), c.hidden, c.eps)?,
            mlp: Mlp::load(&w.prefix("mlp"), c.hidden, c.intermediate, c.act)?,
        })
    }

    /// `mask` is additive, broadcastable to `[b, h, l, l]`; `causal` hides later positions.
    pub fn forward(
        &self,
        x: &Tensor<B>,
        mask: Option<&Tensor<B>>,
        causal: bool,
    ) -> Result<Tensor<B>> {
        let attn = self.attn.forward(&self.norm1.forward(x)?, mask, causal)?;
        let (h, normed) = self.norm2.forward_residual(&attn, x)?;
        Ok(h.add(&self.mlp.forward(&normed)?)?)
    }
}

/// `h = norm1(x + attn(x)); out = norm2(h + mlp(h))`.
#[derive(Clone, Debug)]
pub struct PostNormBlock<B: Backend> {
    pub attn: Attention<B>,
    pub attn_norm: LayerNorm<B>,
    pub mlp: Mlp<B>,
    pub mlp_norm: LayerNorm<B>,
}

impl<B: Backend> PostNormBlock<B> {
    /// BERT names: `attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`,
    /// `intermediate.dense`, `output.{dense,LayerNorm}`.
    pub fn load_bert(w: &Weights<B>, c: &BlockConfig) -> Result<Self> {
        let s = w.prefix("attention.self");
        let qkv = QkvProjection::Separate {
            q: Linear::load(&s.prefix("query"), c.hidden, c.hidden, true)?,
            k: Linear::load(&s.prefix("key"), c.hidden, c.hidden, true)?,
            v: Linear::load(&s.prefix("value"), c.hidden, c.hidden, true)?,
        };
        let out = Linear::load(
            &w.prefix("attention.output.dense"),
            c.hidden,
            c.hidden,
            true,
        )?;
        Ok(PostNormBlock {
            attn: Attention::new(qkv, out, c.heads)?,
            attn_norm: LayerNorm::load(&w.prefix("attention.output.LayerNorm"), c.hidden, c.eps)?,
            mlp: Mlp::new(
                Linear::load(
                    &w.prefix("intermediate.dense"),
                    c.hidden,
                    c.intermediate,
                    true,
                )?,
                Linear::load(&w.prefix("output.dense"), c.intermediate, c.hidden, true)?,
                c.act,
            ),
            mlp_norm: LayerNorm::load(&w.prefix("output.LayerNorm"), c.hidden, c.eps)?,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor<B>,
        mask: Option<&Tensor<B>>,
        causal: bool,
    ) -> Result<Tensor<B>> {
        let (_, h) = self
            .attn_norm
            .forward_residual(&self.attn.forward(x, mask, causal)?, x)?;
        Ok(self
            .mlp_norm
            .forward_residual(&self.mlp.forward(&h)?, &h)?
            .1)
    }
}
