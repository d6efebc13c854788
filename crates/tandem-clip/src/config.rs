//! `config.json` of a Hugging Face CLIP checkpoint, with the library's defaults for absent
//! fields, and presets for the OpenAI ViT-B/32, ViT-B/16 and ViT-L/14 models.

use crate::error::{ClipError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tandem_nn::{activation, BlockConfig};

/// The text tower (`text_config`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ClipTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
    pub bos_token_id: u32,
    /// `2` in configs written before transformers PR #24773: pooling then takes the position of
    /// the largest token id (the EOS token has the largest id in CLIP's vocabulary); any other
    /// value pools at the first occurrence of this id.
    pub eos_token_id: u32,
    pub pad_token_id: u32,
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        ClipTextConfig {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            bos_token_id: 49406,
            eos_token_id: 49407,
            pad_token_id: 1,
        }
    }
}

/// The vision tower (`vision_config`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
}

impl Default for ClipVisionConfig {
    fn default() -> Self {
        ClipVisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// A whole `CLIPConfig`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ClipConfig {
    pub text_config: ClipTextConfig,
    pub vision_config: ClipVisionConfig,
    pub projection_dim: usize,
    /// Initial value of the `logit_scale` parameter (the checkpoint's value is what is used).
    pub logit_scale_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        ClipConfig {
            text_config: ClipTextConfig::default(),
            vision_config: ClipVisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
        }
    }
}

impl ClipConfig {
    /// Parses and validates a `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: ClipConfig = serde_json::from_str(text)
            .map_err(|e| ClipError::config("config.json", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ClipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            ClipError::Config { reason, .. } => {
                ClipError::config(path.display().to_string(), reason)
            }
            other => other,
        })
    }

    /// OpenAI CLIP ViT-B/32 (`openai/clip-vit-base-patch32`).
    pub fn vit_b_32() -> Self {
        Self::openai(ClipVisionConfig::default(), ClipTextConfig::default(), 512)
    }

    /// OpenAI CLIP ViT-B/16 (`openai/clip-vit-base-patch16`).
    pub fn vit_b_16() -> Self {
        Self::openai(
            ClipVisionConfig {
                patch_size: 16,
                ..Default::default()
            },
            ClipTextConfig::default(),
            512,
        )
    }

    /// OpenAI CLIP ViT-L/14 (`openai/clip-vit-large-patch14`).
    pub fn vit_l_14() -> Self {
        let vision = ClipVisionConfig {
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            patch_size: 14,
            ..Default::default()
        };
        let text = ClipTextConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_attention_heads: 12,
            ..Default::default()
        };
        Self::openai(vision, text, 768)
    }

    /// The hub configs of the OpenAI models are old-style (`bos 0`, `eos 2`, `pad 1`).
    fn openai(vision: ClipVisionConfig, text: ClipTextConfig, projection_dim: usize) -> Self {
        let text = ClipTextConfig {
            bos_token_id: 0,
            eos_token_id: 2,
            pad_token_id: 1,
            ..text
        };
        ClipConfig {
            text_config: text,
            vision_config: vision,
            projection_dim,
            logit_scale_init_value: 2.6592,
        }
    }

    /// Checks what the forward pass relies on, so a bad config fails at load time.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(ClipError::config(
                "config.json",
                format!("{field}: {reason}"),
            ))
        };
        let (t, v) = (&self.text_config, &self.vision_config);
        for (name, hidden, heads) in [
            ("text_config", t.hidden_size, t.num_attention_heads),
            ("vision_config", v.hidden_size, v.num_attention_heads),
        ] {
            if heads == 0 || hidden == 0 || hidden % heads != 0 {
                return bad(name, format!("hidden_size {hidden} is not a positive multiple of num_attention_heads {heads}"));
            }
        }
        if v.image_size == 0 || v.image_size > tandem_image::MAX_OUTPUT_SIDE {
            return bad(
                "vision_config",
                format!(
                    "image_size {} is outside 1..={}",
                    v.image_size,
                    tandem_image::MAX_OUTPUT_SIDE
                ),
            );
        }
        if v.patch_size == 0 || v.image_size % v.patch_size != 0 {
            return bad(
                "vision_config",
                format!(
                    "image_size {} is not a multiple of patch_size {}",
                    v.image_size, v.patch_size
                ),
            );
        }
        if self.projection_dim == 0 || t.max_position_embeddings == 0 || t.vocab_size == 0 {
            return bad(
                "config",
                "projection_dim, max_position_embeddings and vocab_size must be positive".into(),
            );
        }
        for act in [&t.hidden_act, &v.hidden_act] {
            activation(act).map_err(|e| ClipError::config("config.json", e.to_string()))?;
        }
        Ok(())
    }

    pub(crate) fn text_block(&self) -> Result<BlockConfig> {
        let t = &self.text_config;
        Ok(BlockConfig {
            hidden: t.hidden_size,
            heads: t.num_attention_heads,
            intermediate: t.intermediate_size,
            act: activation(&t.hidden_act)?,
            eps: t.layer_norm_eps as f32,
        })
    }

    pub(crate) fn vision_block(&self) -> Result<BlockConfig> {
        let v = &self.vision_config;
        Ok(BlockConfig {
            hidden: v.hidden_size,
            heads: v.num_attention_heads,
            intermediate: v.intermediate_size,
            act: activation(&v.hidden_act)?,
            eps: v.layer_norm_eps as f32,
        })
    }
}
