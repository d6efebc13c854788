//! CLIP's byte-level BPE tokenizer, through the `tokenizers` crate, producing exactly the ids
//! of `CLIPTokenizerFast`: `<|startoftext|> … <|endoftext|>`, padded with the pad token.
//!
//! Loads `tokenizer.json`, or builds the same pipeline from `vocab.json` + `merges.txt` (the
//! normaliser, split pattern, byte-level pre-tokeniser and `</w>` suffix that transformers'
//! converter uses for CLIP).

use crate::error::{ClipError, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::str::FromStr;
use tokenizers::Tokenizer;

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";
/// CLIP's pre-tokeniser pattern (transformers' `CLIPConverter`).
const SPLIT: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A padded batch of token ids, row-major `[batch, len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    pub ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub mask: Vec<u32>,
    pub batch: usize,
    pub len: usize,
}

/// The CLIP tokenizer with its pad token and maximum length.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    eos_id: u32,
    max_len: usize,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The pad token named by `special_tokens_map.json` / `tokenizer_config.json`, if any.
fn pad_token_name(dir: &Path) -> Option<String> {
    for file in ["special_tokens_map.json", "tokenizer_config.json"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match &v["pad_token"] {
            Value::String(s) => return Some(s.clone()),
            Value::Object(o) => {
                if let Some(Value::String(s)) = o.get("content") {
                    return Some(s.clone());
                }
            }
            _ => {}
        }
    }
    None
}

impl ClipTokenizer {
    /// Loads from a checkpoint directory: `tokenizer.json` if present, else `vocab.json` +
    /// `merges.txt`. The pad token comes from `special_tokens_map.json` or
    /// `tokenizer_config.json` (default `<|endoftext|>`, as `CLIPTokenizer`); sequences are
    /// truncated to `max_len` tokens (the text model's `max_position_embeddings`).
    pub fn from_dir(dir: &Path, max_len: usize) -> Result<Self> {
        let inner = if dir.join("tokenizer.json").exists() {
            Tokenizer::from_str(&read(&dir.join("tokenizer.json"))?)
                .map_err(ClipError::tokenizer)?
        } else if dir.join("vocab.json").exists() && dir.join("merges.txt").exists() {
            Self::build_from_vocab_merges(
                &read(&dir.join("vocab.json"))?,
                &read(&dir.join("merges.txt"))?,
            )?
        } else {
            return Err(ClipError::tokenizer(format!(
                "{} has neither tokenizer.json nor vocab.json + merges.txt",
                dir.display()
            )));
        };
        let pad = pad_token_name(dir).unwrap_or_else(|| EOS.to_string());
        Self::new(inner, &pad, max_len)
    }

    /// Wraps a loaded tokenizer; `pad_token` must be in its vocabulary.
    pub fn new(mut inner: Tokenizer, pad_token: &str, max_len: usize) -> Result<Self> {
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| {
                ClipError::tokenizer(format!("token `{t}` is not in the vocabulary"))
            })
        };
        let (pad_id, eos_id) = (id(pad_token)?, id(EOS)?);
        if max_len < 2 {
            return Err(ClipError::tokenizer(format!(
                "max length {max_len} leaves no room for <|startoftext|> and <|endoftext|>"
            )));
        }
        // Padding and truncation are done here, so the file's settings must not interfere.
        inner.with_padding(None);
        inner.with_truncation(None).map_err(ClipError::tokenizer)?;
        Ok(ClipTokenizer {
            inner,
            pad_id,
            eos_id,
            max_len,
        })
    }

    /// The `tokenizer.json` that transformers' converter writes for CLIP, built in memory from
    /// `vocab.json` (token → id) and `merges.txt` (one merge per line, `#version` header).
    pub fn build_from_vocab_merges(vocab_json: &str, merges_txt: &str) -> Result<Tokenizer> {
        let vocab: Value = serde_json::from_str(vocab_json)
            .map_err(|e| ClipError::tokenizer(format!("vocab.json: {e}")))?;
        let Some(map) = vocab.as_object() else {
            return Err(ClipError::tokenizer("vocab.json is not an object"));
        };
        let merges: Vec<&str> = merges_txt
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .collect();
        let special = |t: &str| -> Result<Value> {
            let id = map
                .get(t)
                .and_then(Value::as_u64)
                .ok_or_else(|| ClipError::tokenizer(format!("vocab.json lacks `{t}`")))?;
            Ok(
                json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
            )
        };
        let (bos, eos) = (special(BOS)?, special(EOS)?);
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [bos.clone(), eos.clone()],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
                {"type": "Lowercase"}
            ]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Removed", "invert": true},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
            ]},
            "post_processor": {"type": "RobertaProcessing", "sep": [EOS, eos["id"]], "cls": [BOS, bos["id"]],
                "trim_offsets": false, "add_prefix_space": false},
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": EOS, "continuing_subword_prefix": "",
                "end_of_word_suffix": "</w>", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges}
        });
        Tokenizer::from_str(&spec.to_string()).map_err(ClipError::tokenizer)
    }

    /// Ids of one caption with `<|startoftext|>`/`<|endoftext|>`; a caption longer than
    /// `max_len` is cut and keeps its `<|endoftext|>` (where the text model pools).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(ClipError::tokenizer)?;
        let mut ids = enc.get_ids().to_vec();
        if ids.len() > self.max_len {
            ids.truncate(self.max_len);
            ids[self.max_len - 1] = self.eos_id;
        }
        Ok(ids)
    }

    /// Encodes captions and pads them to the longest with the pad token (`padding=True`).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<TokenBatch> {
        if texts.is_empty() {
            return Err(ClipError::input("captions", "no captions to encode"));
        }
        let rows = texts
            .iter()
            .map(|t| self.encode(t))
            .collect::<Result<Vec<_>>>()?;
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut mask = Vec::with_capacity(rows.len() * len);
        for r in &rows {
            ids.extend(
                r.iter()
                    .copied()
                    .chain(std::iter::repeat_n(self.pad_id, len - r.len())),
            );
            mask.extend(
                std::iter::repeat_n(1, r.len()).chain(std::iter::repeat_n(0, len - r.len())),
            );
        }
        Ok(TokenBatch {
            ids,
            mask,
            batch: rows.len(),
            len,
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
    pub fn max_len(&self) -> usize {
        self.max_len
    }
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
