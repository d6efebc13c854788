//! Greedy search and sampling for a batch of images with N sequences each.
//!
//! The prompt is run once per image (not once per sequence); its self-attention cache is then
//! fanned out to the N sequences. A sequence that ends (`[SEP]` or the length limit) leaves
//! the batch at once: its rows are dropped from the cache, so later steps cost only what is
//! still running.

use super::config::GenerationConfig;
use super::logits;
use super::rng::SequenceRng;
use super::{row_groups, DecodeStep};
use crate::error::{BlipError, Result};
use tandem_tensor::Backend;

struct Sequence {
    image: usize,
    index: usize,
    tokens: Vec<u32>,
    rng: Option<SequenceRng>,
    /// Row of this sequence in the last logits (and in the cache).
    row: usize,
}

/// Picks the next token of `seq` from its logits row, as `transformers`' `_sample` does.
fn next_token(row: &mut [f32], seq: &mut Sequence, cfg: &GenerationConfig, eos: u32) -> u32 {
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

/// Returns, per image, `num_return_sequences` token sequences (each starting with `prompt`).
pub(crate) fn run<B: Backend>(
    step: &mut DecodeStep<'_, B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    let images = keys.len();
    let n = cfg.num_return_sequences;
    let max_len = cfg.effective_max_length(prompt.len());
    let eos = step.eos();
    let vocab = step.vocab();
    let first: Vec<(usize, usize)> = (0..images).map(|i| (i, 1)).collect();
    let prompts: Vec<Vec<u32>> = vec![prompt.to_vec(); images];
    let mut logits = step.run(&prompts, &first)?;

    let mut running: Vec<Sequence> = (0..images)
        .flat_map(|image| {
            (0..n).map(move |index| Sequence {
                image,
                index,
                tokens: prompt.to_vec(),
                rng: cfg
                    .do_sample
                    .then(|| SequenceRng::new(cfg.seed, keys[image], index as u64)),
                row: image,
            })
        })
        .collect();
    let mut done: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); n]; images];
    let mut rows_in_cache = images;
    loop {
        let mut survivors = Vec::with_capacity(running.len());
        for mut seq in running.drain(..) {
            let mut row = logits[seq.row * vocab..(seq.row + 1) * vocab].to_vec();
            let token = next_token(&mut row, &mut seq, cfg, eos);
            seq.tokens.push(token);
            if token == eos || seq.tokens.len() >= max_len {
                done[seq.image][seq.index] = std::mem::take(&mut seq.tokens);
            } else {
                survivors.push(seq);
            }
        }
        if survivors.is_empty() {
            break;
        }
        let keep: Vec<u32> = survivors.iter().map(|s| s.row as u32).collect();
        // Survivors keep their order, so equal lengths already mean `keep == 0..n`; the row
        // check only restates it. (cargo-mutants: `r as usize != i` there is equivalent, it
        // merely selects the unchanged rows again.)
        let unchanged =
            keep.len() == rows_in_cache && keep.iter().enumerate().all(|(i, &r)| r as usize == i);
        if !unchanged {
            step.select_rows(&keep)?;
        }
        rows_in_cache = keep.len();
        for (r, s) in survivors.iter_mut().enumerate() {
            s.row = r;
        }
        let next: Vec<Vec<u32>> = survivors
            .iter()
            .map(|s| vec![*s.tokens.last().unwrap_or(&eos)])
            .collect();
        let groups = row_groups(survivors.iter().map(|s| s.image));
        logits = step.run(&next, &groups)?;
        running = survivors;
    }
    if done.iter().flatten().any(|s| s.is_empty()) {
        return Err(BlipError::generation(
            "num_return_sequences",
            "a sequence ended without output",
        ));
    }
    Ok(done)
}
