//! BLIP's tokenizer: BERT uncased WordPiece plus BLIP's added `[DEC]` (bos) and `[ENC]` tokens.
//!
//! Loaded from `tokenizer.json` when the checkpoint has one, otherwise built from `vocab.txt`
//! the way `BertTokenizer` behaves (lower-casing, accent stripping, punctuation splitting,
//! `##` continuation pieces). Padding and truncation settings of a `tokenizer.json` are
//! switched off: a prompt is encoded whole, and captions are decoded one by one.

use crate::error::{BlipError, Result};
use std::path::Path;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Tokenizer};

/// The tokens BLIP adds to the BERT vocabulary, in the order that gives them ids 30522, 30523.
const BLIP_ADDED: [&str; 2] = ["[DEC]", "[ENC]"];
const BERT_SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Encodes prompts and decodes generated ids into captions.
#[derive(Clone)]
pub struct BlipTokenizer {
    inner: Tokenizer,
}

fn tok_err(context: &str, e: impl std::fmt::Display) -> BlipError {
    BlipError::Tokenizer(format!("{context}: {e}"))
}

impl BlipTokenizer {
    /// `tokenizer.json` if `dir` has one, else `vocab.txt`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        let vocab = dir.join("vocab.txt");
        if vocab.is_file() {
            return Self::from_vocab_txt(&vocab);
        }
        Err(BlipError::Tokenizer(format!(
            "{} has neither tokenizer.json nor vocab.txt",
            dir.display()
        )))
    }

    /// A `tokenizers` JSON file (as `BertTokenizerFast.save_pretrained` writes it).
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        let mut inner =
            Tokenizer::from_file(path).map_err(|e| tok_err(&path.display().to_string(), e))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| tok_err("disabling truncation", e))?;
        let tok = BlipTokenizer { inner };
        tok.check_blip_tokens()?;
        Ok(tok)
    }

    /// A BERT `vocab.txt` (one WordPiece per line), with BLIP's added tokens appended.
    pub fn from_vocab_txt(path: &Path) -> Result<Self> {
        let file = path.to_str().ok_or_else(|| {
            BlipError::Tokenizer(format!("{} is not valid UTF-8", path.display()))
        })?;
        let model = WordPiece::from_file(file)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| tok_err(file, e))?;
        let mut inner = Tokenizer::new(model);
        inner.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| BlipError::Tokenizer(format!("{file} lacks the special token {t}")))
        };
        let (sep, cls) = (id("[SEP]")?, id("[CLS]")?);
        inner.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        let special: Vec<AddedToken> = BERT_SPECIAL
            .iter()
            .chain(BLIP_ADDED.iter())
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        inner.add_special_tokens(&special);
        let tok = BlipTokenizer { inner };
        tok.check_blip_tokens()?;
        Ok(tok)
    }

    /// BLIP's ids are fixed by the checkpoint (`bos_token_id` 30522): a tokenizer that puts
    /// `[DEC]` elsewhere would silently produce garbage prompts.
    fn check_blip_tokens(&self) -> Result<()> {
        let vocab = self.inner.get_vocab_size(true);
        if self.inner.token_to_id("[DEC]").is_none() {
            return Err(BlipError::Tokenizer(format!(
                "the vocabulary ({vocab} tokens) has no [DEC] token"
            )));
        }
        Ok(())
    }

    /// The id of `token`, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// `[CLS] prompt [SEP]` ids, as `tokenizer(prompt)["input_ids"]`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| tok_err("encoding the prompt", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// What `BlipForConditionalGeneration.generate` feeds the decoder for a prompt: the
    /// tokenized prompt with `[CLS]` replaced by `bos` and the trailing `[SEP]` dropped.
    /// No prompt gives `[bos]`.
    pub fn decoder_prompt(&self, prompt: Option<&str>, bos: u32) -> Result<Vec<u32>> {
        let Some(text) = prompt else {
            return Ok(vec![bos]);
        };
        let ids = self.encode(text)?;
        if ids.len() < 2 {
            return Err(BlipError::input(
                "prompt",
                format!("`{text}` encoded to {ids:?}, expected [CLS] … [SEP]"),
            ));
        }
        let mut out = Vec::with_capacity(ids.len() - 1);
        out.push(bos);
        out.extend_from_slice(&ids[1..ids.len() - 1]);
        Ok(out)
    }

    /// One caption, as `batch_decode(..., skip_special_tokens=True)` gives it (special tokens
    /// dropped, `##` pieces joined, spaces before punctuation and contractions removed).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| tok_err("decoding", e))?;
        Ok(clean_up_tokenization(&text))
    }
}

/// `transformers`' `clean_up_tokenization`: the `tokenizers` WordPiece decoder already does
/// this; applying it again is a no-op there and covers decoders without the cleanup flag.
pub fn clean_up_tokenization(text: &str) -> String {
    let mut s = text.to_string();
    for (from, to) in [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::clean_up_tokenization;

    #[test]
    fn cleanup_matches_transformers() {
        assert_eq!(
            clean_up_tokenization("a dog , a cat . is n't it ? it 's"),
            "a dog, a cat. isn't it? it's"
        );
    }
}
