//! Generation settings, named and defaulted as `transformers`' `GenerationConfig`, so that
//! settings copied from Python mean the same thing here.

use crate::error::{BlipError, Result};
use serde::{Deserialize, Deserializer};

/// When beam search stops, as `early_stopping` in `transformers`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EarlyStopping {
    /// `False`: stop when the best running beam, scored at its current length, cannot beat
    /// the worst finished hypothesis (the `transformers` default).
    #[default]
    Heuristic,
    /// `True`: stop as soon as `num_beams` hypotheses are finished.
    WhenFull,
    /// `"never"`: the canonical criterion (with a positive length penalty, the best running
    /// beam is scored at `max_length`).
    Never,
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(false) => Ok(EarlyStopping::Heuristic),
            Raw::Bool(true) => Ok(EarlyStopping::WhenFull),
            Raw::Text(s) if s == "never" => Ok(EarlyStopping::Never),
            Raw::Text(s) => Err(serde::de::Error::custom(format!(
                "early_stopping must be true, false or \"never\", got \"{s}\""
            ))),
        }
    }
}

/// How captions are generated. Deserializes from JSON `inference_args`; an unknown field is an
/// error (a misspelt setting must not be silently ignored).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Total length including the decoder prompt (`[DEC]` and any prompt tokens), as in
    /// `transformers`. Default 20.
    pub max_length: usize,
    /// If set, overrides `max_length` with prompt length + `max_new_tokens`.
    pub max_new_tokens: Option<usize>,
    /// `[SEP]` is forbidden while the sequence (prompt included) is shorter than this.
    pub min_length: usize,
    /// Sample instead of taking the best token (greedy) or beams.
    pub do_sample: bool,
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens when sampling; 0 disables. Default 50 (as HF).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`; 1.0 disables.
    pub top_p: f32,
    /// CTRL-style penalty on tokens already in the sequence; 1.0 disables.
    pub repetition_penalty: f32,
    /// No `n`-gram of this size occurs twice in a caption (prompt included); 0 disables.
    pub no_repeat_ngram_size: usize,
    pub num_beams: usize,
    /// Exponent of the generated length dividing a finished beam's log-probability.
    pub length_penalty: f32,
    pub early_stopping: EarlyStopping,
    /// Captions returned per image (≤ `num_beams` for beam search).
    pub num_return_sequences: usize,
    /// Seed of the sampling streams; each (image key, sequence index) draws from its own.
    pub seed: u64,
    /// Conditional-captioning prompt, e.g. "a picture of"; the caption continues it.
    pub prompt: Option<String>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            do_sample: false,
            temperature: 1.0,
            top_k: 50,
            top_p: 1.0,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            num_return_sequences: 1,
            seed: 0,
            prompt: None,
        }
    }
}

impl GenerationConfig {
    /// Parses JSON settings (`{"num_beams": 3, "max_length": 30}`); absent fields take defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: GenerationConfig = serde_json::from_str(text)
            .map_err(|e| BlipError::generation("inference_args", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The total length limit for a decoder prompt of `prompt_len` tokens.
    pub fn effective_max_length(&self, prompt_len: usize) -> usize {
        self.max_new_tokens
            .map_or(self.max_length, |n| prompt_len + n)
    }

    /// Rejects settings that are out of range or contradict each other.
    pub fn validate(&self) -> Result<()> {
        let g = BlipError::generation;
        if self.num_beams == 0 {
            return Err(g("num_beams", "must be at least 1".into()));
        }
        if self.num_return_sequences == 0 {
            return Err(g("num_return_sequences", "must be at least 1".into()));
        }
        if self.num_beams > 1 && self.num_return_sequences > self.num_beams {
            return Err(g(
                "num_return_sequences",
                format!(
                    "{} exceeds num_beams {}",
                    self.num_return_sequences, self.num_beams
                ),
            ));
        }
        if self.num_beams > 1 && self.do_sample {
            return Err(g(
                "do_sample",
                "beam sampling (do_sample with num_beams > 1) is not supported".into(),
            ));
        }
        if self.num_beams == 1 && !self.do_sample && self.num_return_sequences > 1 {
            return Err(g(
                "num_return_sequences",
                "greedy search returns one caption; use do_sample or num_beams".into(),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(g(
                "temperature",
                format!("{} is not a positive finite number", self.temperature),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(g("top_p", format!("{} is not in (0, 1]", self.top_p)));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(g(
                "repetition_penalty",
                format!(
                    "{} is not a positive finite number",
                    self.repetition_penalty
                ),
            ));
        }
        if !self.length_penalty.is_finite() {
            return Err(g(
                "length_penalty",
                format!("{} is not finite", self.length_penalty),
            ));
        }
        if self.max_new_tokens == Some(0) || (self.max_new_tokens.is_none() && self.max_length < 2)
        {
            return Err(g(
                "max_length",
                "leaves no room for a generated token".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_settings_parse_with_defaults() {
        let c = GenerationConfig::from_json(
            r#"{"num_beams": 3, "early_stopping": "never", "prompt": "a picture of"}"#,
        )
        .unwrap();
        assert_eq!(c.num_beams, 3);
        assert_eq!(c.early_stopping, EarlyStopping::Never);
        assert_eq!(c.top_k, 50);
        assert_eq!(c.max_length, 20);
        let c = GenerationConfig::from_json(r#"{"early_stopping": true}"#).unwrap();
        assert_eq!(c.early_stopping, EarlyStopping::WhenFull);
    }

    #[test]
    fn bad_settings_are_named() {
        for (json, field) in [
            (r#"{"num_beam": 3}"#, "num_beam"),
            (r#"{"top_p": 0}"#, "top_p"),
            (
                r#"{"num_beams": 2, "num_return_sequences": 3}"#,
                "num_return_sequences",
            ),
            (r#"{"temperature": -1}"#, "temperature"),
            (r#"{"early_stopping": "sometimes"}"#, "early_stopping"),
        ] {
            let err = GenerationConfig::from_json(json).unwrap_err().to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
    }

    /// Every rule of `validate` rejects just past its boundary and accepts on it, so a rule
    /// that is dropped, inverted or moved by one is seen.
    #[test]
    fn each_rule_rejects_past_its_boundary_and_accepts_on_it() {
        for (json, field) in [
            (r#"{"num_beams": 0}"#, "num_beams"),
            (r#"{"num_return_sequences": 0}"#, "num_return_sequences"),
            (r#"{"num_beams": 2, "do_sample": true}"#, "do_sample"),
            (r#"{"num_return_sequences": 2}"#, "num_return_sequences"),
            (r#"{"temperature": 0}"#, "temperature"),
            (r#"{"top_p": 1.5}"#, "top_p"),
            (r#"{"repetition_penalty": 0}"#, "repetition_penalty"),
            (r#"{"repetition_penalty": -1}"#, "repetition_penalty"),
            (r#"{"max_new_tokens": 0}"#, "max_length"),
            (r#"{"max_length": 1}"#, "max_length"),
        ] {
            let err = GenerationConfig::from_json(json).unwrap_err().to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
        for json in [
            r#"{"do_sample": true, "num_return_sequences": 3}"#,
            r#"{"num_beams": 3, "num_return_sequences": 3}"#,
            r#"{"num_beams": 2, "num_return_sequences": 1}"#,
            r#"{"top_p": 1.0, "temperature": 0.01, "repetition_penalty": 0.5}"#,
            r#"{"max_length": 2}"#,
            r#"{"max_length": 1, "max_new_tokens": 1}"#,
            r#"{"length_penalty": -2.0}"#,
        ] {
            assert!(
                GenerationConfig::from_json(json).is_ok(),
                "{json} must be valid"
            );
        }
    }

    /// Non-finite values cannot come from JSON, but a config built in code is validated too.
    #[test]
    fn non_finite_settings_are_rejected() {
        let base = GenerationConfig::default();
        for (cfg, field) in [
            (
                GenerationConfig {
                    temperature: f32::INFINITY,
                    ..base.clone()
                },
                "temperature",
            ),
            (
                GenerationConfig {
                    repetition_penalty: f32::INFINITY,
                    ..base.clone()
                },
                "repetition_penalty",
            ),
            (
                GenerationConfig {
                    length_penalty: f32::NAN,
                    ..base.clone()
                },
                "length_penalty",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(base.validate().is_ok());
    }

    #[test]
    fn max_new_tokens_counts_from_the_end_of_the_prompt() {
        let cfg = GenerationConfig {
            max_length: 7,
            ..GenerationConfig::default()
        };
        assert_eq!(cfg.effective_max_length(3), 7);
        let cfg = GenerationConfig {
            max_new_tokens: Some(5),
            ..cfg
        };
        assert_eq!(cfg.effective_max_length(3), 8);
        assert_eq!(cfg.effective_max_length(1), 6);
    }
}
