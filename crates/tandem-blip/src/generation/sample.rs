//! Greedy search and sampling: the rules that pick a sequence's next token (as `transformers`'
//! `_sample` applies them), and a request decoded on its own.
//!
//! The decode loop itself is [`DecodeBatch`]'s: the prompt runs once per image and its cache
//! is fanned out to the N sequences ([`prepare`]); a sequence that ends (`[SEP]` or the length
//! limit) leaves the batch at once, its rows dropped from the cache, so later steps cost only
//! what is still running.

use super::batch::{prepare, DecodeBatch, Joiner, Sequence};
use super::config::GenerationConfig;
use super::logits;
use crate::error::{BlipError, Result};
use crate::model::BlipModel;
use tandem_tensor::{Backend, Tensor};

/// Picks the next token of `seq` from its logits row, as `transformers`' `_sample` does.
pub(crate) fn next_token(
    row: &mut [f32],
    seq: &mut Sequence,
    cfg: &GenerationConfig,
    eos: u32,
) -> u32 {
    logits::repetition_penalty(row, &seq.tokens, cfg.repetition_penalty);
    logits::no_repeat_ngram(row, &seq.tokens, cfg.no_repeat_ngram_size);
    logits::min_length(row, seq.tokens.len(), cfg.min_length, eos);
    match &mut seq.rng {
        Some(rng) => {
            logits::temperature(row, cfg.temperature);
            logits::top_k(row, cfg.top_k);
            logits::top_p(row, cfg.top_p);
            logits::sample(row, rng)
        }
        None => logits::argmax(row),
    }
}

/// Returns, per image, `num_return_sequences` token sequences (each starting with `prompt`)
/// for `image_embeds: [keys.len(), tokens, dim]`: one request decoded on its own (a
/// [`DecodeBatch`] of one request runs the plain decoder step, without padding or masks).
pub(crate) fn run<B: Backend>(
    model: &BlipModel<B>,
    image_embeds: &Tensor<B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    decode_alone(
        model,
        prepare(model, image_embeds, keys, prompt, cfg)?,
        cfg,
        prompt.len(),
    )
}

/// Decodes one prepared request to the end in a batch of its own.
pub(crate) fn decode_alone<B: Backend>(
    model: &BlipModel<B>,
    joiner: Joiner<B>,
    cfg: &GenerationConfig,
    prompt_len: usize,
) -> Result<Vec<Vec<Vec<u32>>>> {
    if joiner.is_finished() {
        return joiner.into_captions();
    }
    let mut batch = DecodeBatch::new(model, cfg, prompt_len, 0);
    batch.admit(0, joiner)?;
    while !batch.is_empty() {
        if let Some((_, progress)) = batch.step(model)?.pop() {
            return progress.into_captions();
        }
    }
    Err(BlipError::generation(
        "num_return_sequences",
        "the decode batch emptied before the request finished",
    ))
}
