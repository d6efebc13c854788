//! A BERT encoder (Hugging Face `BertModel` without the pooler): word + position + token-type
//! embeddings, then post-norm transformer layers. Small, and exercised on the real
//! all-MiniLM-L6-v2 weights in the parity test; BLIP's text side builds on the same blocks.

use crate::block::{BlockConfig, PostNormBlock};
use crate::embedding::Embedding;
use crate::error::{NnError, Result};
use crate::layer_norm::LayerNorm;
use crate::mask::padding_mask;
use crate::mlp::activation;
use crate::weights::Weights;
use serde::Deserialize;
use tandem_tensor::{Backend, DType, Tensor};

/// The fields of a BERT `config.json` the encoder needs (others are ignored).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| NnError::config("config.json", e.to_string()))
    }
}

#[derive(Clone, Debug)]
pub struct BertEncoder<B: Backend> {
    word: Embedding<B>,
    position: Embedding<B>,
    token_type: Embedding<B>,
    norm: LayerNorm<B>,
    layers: Vec<PostNormBlock<B>>,
}

impl<B: Backend> BertEncoder<B> {
    /// Loads `embeddings.*` and `encoder.layer.{i}.*` from `w` (pass `w.prefix("bert")` for
    /// checkpoints saved from a task model). Does not call `finish`: the caller decides which
    /// other tensors (a pooler, a task head) are expected.
    pub fn load(w: &Weights<B>, cfg: &BertConfig) -> Result<Self> {
        let act = activation(&cfg.hidden_act)?;
        let eps = cfg.layer_norm_eps as f32;
        let e = w.prefix("embeddings");
        e.skip("position_ids");
        let block = BlockConfig {
            hidden: cfg.hidden_size,
            heads: cfg.num_attention_heads,
            intermediate: cfg.intermediate_size,
            act,
            eps,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| PostNormBlock::load_bert(&w.prefix(&format!("encoder.layer.{i}")), &block))
            .collect::<Result<Vec<_>>>()?;
        Ok(BertEncoder {
            word: Embedding::load(
                &e.prefix("word_embeddings"),
                cfg.vocab_size,
                cfg.hidden_size,
            )?,
            position: Embedding::load(
                &e.prefix("position_embeddings"),
                cfg.max_position_embeddings,
                cfg.hidden_size,
            )?,
            token_type: Embedding::load(
                &e.prefix("token_type_embeddings"),
                cfg.type_vocab_size,
                cfg.hidden_size,
            )?,
            norm: LayerNorm::load(&e.prefix("LayerNorm"), cfg.hidden_size, eps)?,
            layers,
        })
    }

    /// `last_hidden_state` `[b, l, hidden]` for `input_ids: [b, l]` (`U32`/`I64`),
    /// optional `token_type_ids` (zeros when `None`) and a row-major `[b, l]` padding mask.
    pub fn forward(
        &self,
        input_ids: &Tensor<B>,
        token_type_ids: Option<&Tensor<B>>,
        attention_mask: &[u32],
    ) -> Result<Tensor<B>> {
        if input_ids.rank() != 2 {
            return Err(NnError::input(
                "input_ids",
                format!("expected [batch, len], got {:?}", input_ids.dims()),
            ));
        }
        let (b, l) = (input_ids.dims()[0], input_ids.dims()[1]);
        if l > self.position.vocab() {
            return Err(NnError::input(
                "input_ids",
                format!("{l} tokens exceed {} positions", self.position.vocab()),
            ));
        }
        let words = self.word.forward(input_ids)?;
        let dtype = words.dtype();
        let types = match token_type_ids {
            Some(t) => self.token_type.forward(t)?,
            None => {
                let zeros = Tensor::zeros(input_ids.backend(), &[b, l], DType::U32)?;
                self.token_type.forward(&zeros)?
            }
        };
        let x = words.add(&types)?.add(&self.position.first_rows(l)?)?;
        let mut x = self.norm.forward(&x)?;
        let mask = padding_mask(input_ids.backend(), attention_mask, b, l, dtype)?;
        for layer in &self.layers {
            x = layer.forward(&x, Some(&mask), false)?;
        }
        Ok(x)
    }
}
