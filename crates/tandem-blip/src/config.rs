//! `BlipConfig` as Hugging Face writes it in `config.json` (`vision_config`, `text_config`),
//! with the defaults of `transformers`' `BlipVisionConfig` / `BlipTextConfig` for absent fields,
//! and presets for the two public captioning checkpoints.

use crate::error::{BlipError, Result};
use serde::Deserialize;
use std::path::Path;

/// The ViT image encoder.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlipVisionConfig {
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

impl Default for BlipVisionConfig {
    fn default() -> Self {
        BlipVisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 384,
            patch_size: 16,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

impl BlipVisionConfig {
    /// Patches plus the class token.
    pub fn num_positions(&self) -> usize {
        (self.image_size / self.patch_size).pow(2) + 1
    }
}

/// The BERT text decoder (self-attention, cross-attention to the image, LM head).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlipTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// Width of the image tokens the cross-attention reads; `None` means the vision width
    /// (what `BlipConfig` sets when it builds the text config).
    pub encoder_hidden_size: Option<usize>,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    /// `[DEC]`: replaces `[CLS]` at the start of every caption.
    pub bos_token_id: u32,
    /// `[SEP]`: ends a caption (BLIP generates with `eos_token_id = sep_token_id`).
    pub sep_token_id: u32,
}

impl Default for BlipTextConfig {
    fn default() -> Self {
        BlipTextConfig {
            vocab_size: 30524,
            hidden_size: 768,
            encoder_hidden_size: None,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 512,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            bos_token_id: 30522,
            sep_token_id: 102,
        }
    }
}

/// A whole `BlipForConditionalGeneration` configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BlipConfig {
    #[serde(default)]
    pub vision_config: BlipVisionConfig,
    #[serde(default)]
    pub text_config: BlipTextConfig,
}

impl BlipConfig {
    /// `Salesforce/blip-image-captioning-base`: ViT-B/16 at 384, BERT-base decoder.
    pub fn base() -> Self {
        let mut text = BlipTextConfig {
            num_attention_heads: 12,
            ..Default::default()
        };
        text.encoder_hidden_size = Some(768);
        BlipConfig {
            vision_config: BlipVisionConfig::default(),
            text_config: text,
        }
    }

    /// `Salesforce/blip-image-captioning-large`: ViT-L/16 at 384, BERT-base decoder.
    pub fn large() -> Self {
        let vision = BlipVisionConfig {
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            ..Default::default()
        };
        let text = BlipTextConfig {
            num_attention_heads: 12,
            encoder_hidden_size: Some(1024),
            ..Default::default()
        };
        BlipConfig {
            vision_config: vision,
            text_config: text,
        }
    }

    /// A preset by name: `base`/`blip-image-captioning-base` or `large`/`blip-image-captioning-large`.
    pub fn preset(name: &str) -> Result<Self> {
        match name.trim_start_matches("Salesforce/") {
            "base" | "blip-image-captioning-base" => Ok(Self::base()),
            "large" | "blip-image-captioning-large" => Ok(Self::large()),
            other => Err(BlipError::config(
                "preset",
                format!("unknown preset `{other}` (known: base, large)"),
            )),
        }
    }

    /// Parses `config.json` text; `path` names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let cfg: BlipConfig = serde_json::from_str(text).map_err(|e| BlipError::BadConfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and validates `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| BlipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// The width of the image tokens the decoder cross-attends to.
    pub fn encoder_hidden_size(&self) -> usize {
        self.text_config
            .encoder_hidden_size
            .unwrap_or(self.vision_config.hidden_size)
    }

    /// Checks the sizes the model relies on, so a bad config fails at load, not mid-request.
    pub fn validate(&self) -> Result<()> {
        let v = &self.vision_config;
        let t = &self.text_config;
        let positive = [
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("vision_config.num_hidden_layers", v.num_hidden_layers),
            ("vision_config.patch_size", v.patch_size),
            ("vision_config.image_size", v.image_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.num_attention_heads", t.num_attention_heads),
            ("text_config.vocab_size", t.vocab_size),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(BlipError::config(field, "must be positive"));
            }
        }
        if v.image_size > tandem_image::MAX_OUTPUT_SIDE {
            return Err(BlipError::config(
                "vision_config.image_size",
                format!(
                    "{} is above the largest supported side {}",
                    v.image_size,
                    tandem_image::MAX_OUTPUT_SIDE
                ),
            ));
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(BlipError::config(
                "vision_config.num_attention_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    v.num_attention_heads, v.hidden_size
                ),
            ));
        }
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(BlipError::config(
                "text_config.num_attention_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    t.num_attention_heads, t.hidden_size
                ),
            ));
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(BlipError::config(
                "vision_config.patch_size",
                format!(
                    "{} does not divide image_size {}",
                    v.patch_size, v.image_size
                ),
            ));
        }
        for (field, id) in [
            ("bos_token_id", t.bos_token_id),
            ("sep_token_id", t.sep_token_id),
            ("pad_token_id", t.pad_token_id),
        ] {
            if id as usize >= t.vocab_size {
                return Err(BlipError::config(
                    format!("text_config.{field}"),
                    format!("{id} is outside the vocabulary of {}", t.vocab_size),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_take_transformers_defaults() {
        let cfg = BlipConfig::from_json(r#"{"vision_config": {"hidden_size": 24, "num_attention_heads": 4}, "text_config": {}}"#, Path::new("c.json")).unwrap();
        assert_eq!(cfg.vision_config.hidden_size, 24);
        assert_eq!(cfg.vision_config.layer_norm_eps, 1e-5);
        assert_eq!(cfg.text_config.num_attention_heads, 8);
        assert_eq!(cfg.encoder_hidden_size(), 24);
    }

    #[test]
    fn inconsistent_sizes_are_rejected() {
        let err = BlipConfig::from_json(
            r#"{"vision_config": {"hidden_size": 10, "num_attention_heads": 4}}"#,
            Path::new("c.json"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("vision_config.num_attention_heads"),
            "{err}"
        );
        assert!(BlipConfig::from_json("[1]", Path::new("c.json")).is_err());
    }

    #[test]
    fn presets_are_consistent() {
        for name in ["base", "Salesforce/blip-image-captioning-large"] {
            let cfg = BlipConfig::preset(name).unwrap();
            cfg.validate().unwrap();
            assert_eq!(cfg.vision_config.num_positions(), 577);
        }
        assert!(BlipConfig::preset("huge").is_err());
    }
}
