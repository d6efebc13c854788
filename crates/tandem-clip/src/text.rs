//! CLIP's text tower: token + position embeddings, causal pre-norm layers with a padding mask,
//! `final_layer_norm`, and pooling at the end-of-text token exactly as transformers does.

use crate::config::ClipConfig;
use crate::error::{ClipError, Result};
use crate::tokenizer::TokenBatch;
use tandem_nn::{padding_mask, Embedding, LayerNorm, PreNormBlock, Weights};
use tandem_tensor::{Backend, Tensor};

#[derive(Clone, Debug)]
pub struct ClipTextTower<B: Backend> {
    token: Embedding<B>,
    position: Embedding<B>,
    layers: Vec<PreNormBlock<B>>,
    final_norm: LayerNorm<B>,
    eos_token_id: u32,
}

/// Outputs of the text tower.
#[derive(Clone, Debug)]
pub struct TextOutput<B: Backend> {
    /// `[b, len, hidden]`.
    pub last_hidden_state: Tensor<B>,
    /// The hidden state at each caption's end-of-text position, `[b, hidden]`.
    pub pooled: Tensor<B>,
}

/// Where each row is pooled. Configs written before transformers PR #24773 say
/// `eos_token_id == 2`; for them transformers takes `argmax(input_ids)` (the end-of-text token
/// has the largest id of CLIP's vocabulary; the first maximum wins). Newer configs pool at the
/// first position holding `eos_token_id` (position 0 when there is none, as `argmax` of an
/// all-false row gives).
pub fn eos_positions(batch: &TokenBatch, eos_token_id: u32) -> Vec<usize> {
    batch
        .ids
        .chunks(batch.len.max(1))
        .map(|row| {
            if eos_token_id == 2 {
                let max = row.iter().copied().max().unwrap_or(0);
                row.iter().position(|&t| t == max).unwrap_or(0)
            } else {
                row.iter().position(|&t| t == eos_token_id).unwrap_or(0)
            }
        })
        .collect()
}

impl<B: Backend> ClipTextTower<B> {
    /// Loads `text_model.*` (pass `w.prefix("text_model")`).
    pub fn load(w: &Weights<B>, cfg: &ClipConfig) -> Result<Self> {
        let t = &cfg.text_config;
        let block = cfg.text_block()?;
        let e = w.prefix("embeddings");
        e.skip("position_ids");
        Ok(ClipTextTower {
            token: Embedding::load(&e.prefix("token_embedding"), t.vocab_size, t.hidden_size)?,
            position: Embedding::load(
                &e.prefix("position_embedding"),
                t.max_position_embeddings,
                t.hidden_size,
            )?,
            layers: (0..t.num_hidden_layers)
                .map(|i| PreNormBlock::load_clip(&w.prefix(&format!("encoder.layers.{i}")), &block))
                .collect::<tandem_nn::Result<Vec<_>>>()?,
            final_norm: LayerNorm::load(
                &w.prefix("final_layer_norm"),
                t.hidden_size,
                t.layer_norm_eps as f32,
            )?,
            eos_token_id: t.eos_token_id,
        })
    }

    pub fn forward(&self, tokens: &TokenBatch) -> Result<TextOutput<B>> {
        let (b, l) = (tokens.batch, tokens.len);
        if b == 0 || l == 0 || tokens.ids.len() != b * l || tokens.mask.len() != b * l {
            return Err(ClipError::input(
                "token batch",
                format!(
                    "{} ids / {} mask entries for [{b}, {l}]",
                    tokens.ids.len(),
                    tokens.mask.len()
                ),
            ));
        }
        if l > self.position.vocab() {
            return Err(ClipError::input(
                "token batch",
                format!(
                    "{l} tokens exceed the {} positions of the text model",
                    self.position.vocab()
                ),
            ));
        }
        let backend = self.token.table().backend();
        let ids = Tensor::from_slice(backend, &tokens.ids, &[b, l])?;
        let x = self
            .token
            .forward(&ids)?
            .add(&self.position.first_rows(l)?)?;
        let dtype = x.dtype();
        let mask = padding_mask(backend, &tokens.mask, b, l, dtype)?;
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(&x, Some(&mask), true)?;
        }
        let x = self.final_norm.forward(&x)?;
        let rows: Vec<u32> = eos_positions(tokens, self.eos_token_id)
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * l + p) as u32)
            .collect();
        let hidden = x.dims()[2];
        let pooled = x
            .reshape(&[b * l, hidden])?
            .index_select(0, &Tensor::from_slice(backend, &rows, &[b])?)?;
        Ok(TextOutput {
            last_hidden_state: x,
            pooled,
        })
    }
}
