//! A sampling / greedy decode batch whose rows may belong to several requests that started at
//! different steps: continuous batching, as inference servers do it (a finished sequence leaves
//! the batch at once, a new request joins between two steps), so one read of the decoder's
//! weights per step serves the rows of every request in flight.
//!
//! A request first runs [`prepare`] on its own: the image context (cross-attention keys and
//! values of its images), the decoder prompt once per image, the first token of each of its
//! sequences, and the fan-out of the prompt's cache to those sequences. The result, a
//! [`Joiner`], is then admitted into a [`DecodeBatch`]: its cache rows are right-aligned to the
//! batch's cached length, and each row remembers the column its own positions start at, so the
//! decoder gives it its own position ids and masks the padding before it
//! ([`crate::text::BlipTextDecoder::step_ragged`]). A batch of one request has no padding and
//! runs exactly the plain decoder step.

use std::collections::HashMap;

use rayon::prelude::*;

use super::config::GenerationConfig;
use super::rng::SequenceRng;
use super::row_groups;
use super::sample::next_token;
use crate::error::{BlipError, Result};
use crate::model::BlipModel;
use crate::text::{DecoderCache, ImageContext};
use tandem_tensor::{Backend, Tensor};

/// One caption being generated.
pub(crate) struct Sequence {
    /// The request it belongs to (the id given to [`DecodeBatch::admit`]).
    request: u64,
    /// Its image in the batch's image context.
    image: usize,
    /// Its image within its request.
    request_image: usize,
    /// Which of the image's `num_return_sequences` captions it is.
    index: usize,
    pub(crate) tokens: Vec<u32>,
    pub(crate) rng: Option<SequenceRng>,
}

impl Sequence {
    /// Whether the token just picked ends the caption: `[SEP]`, or the length limit reached.
    fn ended(&self, eos: u32, max_len: usize) -> bool {
        self.tokens.last() == Some(&eos) || self.tokens.len() >= max_len
    }
}

/// A request's captions as its sequences finish: `done[image][index]`.
pub(crate) struct Progress {
    done: Vec<Vec<Vec<u32>>>,
    running: usize,
}

impl Progress {
    /// Token ids per image, `num_return_sequences` each. Errors: a sequence left no tokens
    /// (an internal invariant; reported, not assumed).
    pub(crate) fn into_captions(self) -> Result<Vec<Vec<Vec<u32>>>> {
        if self.running > 0 || self.done.iter().flatten().any(Vec::is_empty) {
            return Err(BlipError::generation(
                "num_return_sequences",
                "a sequence ended without output",
            ));
        }
        Ok(self.done)
    }
}

/// A request ready to join a [`DecodeBatch`] (see [`prepare`]).
pub(crate) struct Joiner<B: Backend> {
    ctx: ImageContext<B>,
    /// One row per running sequence, `prompt.len()` positions.
    cache: DecoderCache<B>,
    /// The running sequences, grouped by image; `image` is the request's image index.
    seqs: Vec<Sequence>,
    progress: Progress,
}

impl<B: Backend> Joiner<B> {
    /// Every sequence ended at its first token (`max_length` one past the prompt, or `[SEP]`).
    pub(crate) fn is_finished(&self) -> bool {
        self.seqs.is_empty()
    }

    pub(crate) fn into_captions(self) -> Result<Vec<Vec<Vec<u32>>>> {
        self.progress.into_captions()
    }
}

/// Work a request does once, before it joins a batch: the image context of
/// `image_embeds: [n, tokens, dim]`, the prompt through the decoder once per image, the first
/// token of each of the `num_return_sequences` sequences per image (picked as `transformers`'
/// `_sample` does), and the prompt's cache fanned out to the sequences still running.
/// `keys[i]` names image `i`'s random streams. The arguments are validated by the caller
/// ([`super::generate_from_embeds`] checks them).
pub(crate) fn prepare<B: Backend>(
    model: &BlipModel<B>,
    image_embeds: &Tensor<B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Joiner<B>> {
    let images = keys.len();
    let n = cfg.num_return_sequences;
    let max_len = cfg.effective_max_length(prompt.len());
    let (eos, vocab) = (
        model.config.text_config.sep_token_id,
        model.text.vocab_size(),
    );
    let ctx = model.image_context(image_embeds)?;
    let mut cache = DecoderCache::with_capacity(model.text.num_layers(), prompt.len());
    let flat: Vec<u32> = (0..images).flat_map(|_| prompt.iter().copied()).collect();
    let ids = Tensor::from_slice(model.backend(), &flat, &[images, prompt.len()])?;
    let first: Vec<(usize, usize)> = (0..images).map(|i| (i, 1)).collect();
    let logits = model
        .text
        .step(&ids, &first, &ctx, &mut cache)?
        .to_vec_f32()?;
    let mut progress = Progress {
        done: vec![vec![Vec::new(); n]; images],
        running: 0,
    };
    let mut seqs = Vec::with_capacity(images * n);
    let mut rows = Vec::with_capacity(images * n);
    for (image, key) in keys.iter().enumerate() {
        for index in 0..n {
            let mut seq = Sequence {
                request: 0,
                image,
                request_image: image,
                index,
                tokens: prompt.to_vec(),
                rng: cfg
                    .do_sample
                    .then(|| SequenceRng::new(cfg.seed, key, index as u64)),
            };
            let mut row = logits[image * vocab..(image + 1) * vocab].to_vec();
            let token = next_token(&mut row, &mut seq, cfg, eos);
            seq.tokens.push(token);
            if seq.ended(eos, max_len) {
                progress.done[image][index] = seq.tokens;
            } else {
                rows.push(image as u32);
                seqs.push(seq);
            }
        }
    }
    progress.running = seqs.len();
    if !seqs.is_empty() {
        cache.select_rows(model.backend(), &rows)?;
    }
    Ok(Joiner {
        ctx,
        cache,
        seqs,
        progress,
    })
}

/// The running rows of one or more requests with the same [`GenerationConfig`] and prompt.
pub(crate) struct DecodeBatch<B: Backend> {
    cfg: GenerationConfig,
    max_len: usize,
    eos: u32,
    vocab: usize,
    layers: usize,
    /// Cache positions allocated per row; at least `max_len`.
    capacity: usize,
    /// The images of the running rows (`None` while empty).
    ctx: Option<ImageContext<B>>,
    cache: DecoderCache<B>,
    /// Per row: the cache column its own positions start at (the columns before are padding).
    starts: Vec<usize>,
    /// Per row, in row order (grouped by image).
    seqs: Vec<Sequence>,
    requests: HashMap<u64, Progress>,
}

impl<B: Backend> DecodeBatch<B> {
    /// An empty batch for requests decoding with `cfg` after a prompt of `prompt_len` tokens;
    /// its cache holds `capacity` positions per row (raised to the maximum length). A batch
    /// that admits requests while others run needs room for padding: half a maximum length
    /// more lets it drop leading padding at most every half maximum length.
    pub(crate) fn new(
        model: &BlipModel<B>,
        cfg: &GenerationConfig,
        prompt_len: usize,
        capacity: usize,
    ) -> Self {
        let max_len = cfg.effective_max_length(prompt_len);
        let capacity = capacity.max(max_len);
        let layers = model.text.num_layers();
        DecodeBatch {
            cfg: cfg.clone(),
            max_len,
            eos: model.config.text_config.sep_token_id,
            vocab: model.text.vocab_size(),
            layers,
            capacity,
            ctx: None,
            cache: DecoderCache::with_capacity(layers, capacity),
            starts: Vec::new(),
            seqs: Vec::new(),
            requests: HashMap::new(),
        }
    }

    /// No row is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The requests with rows in the batch.
    pub(crate) fn requests(&self) -> impl Iterator<Item = u64> + '_ {
        self.requests.keys().copied()
    }

    /// Rows running.
    pub(crate) fn rows(&self) -> usize {
        self.seqs.len()
    }

    /// Adds request `id`'s running sequences after the batch's rows. A finished joiner has
    /// nothing to add (take its captions instead). Errors: the cache or context do not fit
    /// (a joiner from another model or configuration).
    pub(crate) fn admit(&mut self, id: u64, joiner: Joiner<B>) -> Result<()> {
        if joiner.is_finished() {
            return Err(BlipError::generation(
                "continuous batching",
                "a finished request cannot join a decode batch",
            ));
        }
        if self.requests.contains_key(&id) {
            return Err(BlipError::generation(
                "continuous batching",
                format!("request {id} is already in the batch"),
            ));
        }
        if let Some(ctx) = &self.ctx {
            ctx.check_append(&joiner.ctx)?;
        }
        let joined_len = joiner.cache.len();
        // Checks every layer before changing any: an error leaves the batch as it was.
        self.cache.extend_rows(&joiner.cache)?;
        let offset = match &mut self.ctx {
            Some(ctx) => {
                let offset = ctx.num_images();
                ctx.append(joiner.ctx)?;
                offset
            }
            None => {
                self.ctx = Some(joiner.ctx);
                0
            }
        };
        let start = self.cache.len() - joined_len;
        for mut seq in joiner.seqs {
            seq.request = id;
            seq.image += offset;
            self.starts.push(start);
            self.seqs.push(seq);
        }
        self.requests.insert(id, joiner.progress);
        Ok(())
    }

    /// One decoder step for every row: picks each row's next token, retires the sequences that
    /// end, and returns the requests all of whose sequences have now ended, with their
    /// captions. Errors: the decoder step failed (the batch is then unusable: the caller fails
    /// every request in it).
    pub(crate) fn step(&mut self, model: &BlipModel<B>) -> Result<Vec<(u64, Progress)>> {
        let Some(ctx) = &self.ctx else {
            return Ok(Vec::new());
        };
        if self.seqs.is_empty() {
            return Ok(Vec::new());
        }
        // Room for this step's position: drop the columns that are padding in every row.
        if self.cache.len() + 1 > self.cache.capacity() {
            let drop = self.starts.iter().copied().min().unwrap_or(0);
            self.cache.drop_front(drop)?;
            for s in &mut self.starts {
                *s -= drop;
            }
        }
        let last: Vec<u32> = self
            .seqs
            .iter()
            .map(|s| *s.tokens.last().unwrap_or(&self.eos))
            .collect();
        let ids = Tensor::from_slice(model.backend(), &last, &[last.len(), 1])?;
        let groups = row_groups(self.seqs.iter().map(|s| s.image));
        let logits = model
            .text
            .step_ragged(&ids, &self.starts, &groups, ctx, &mut self.cache)?
            .to_vec_f32()?;
        // Each row's token depends on its logits and its own random stream only, so the rows
        // are picked on the compute pool: at 60 rows of a 30,524-token vocabulary, picking them
        // one after another on the stepping thread left the other cores idle for as long as
        // the step's attention took.
        let (cfg, eos) = (&self.cfg, self.eos);
        self.seqs
            .par_iter_mut()
            .zip(logits.par_chunks(self.vocab))
            .for_each(|(seq, row)| {
                let token = next_token(&mut row.to_vec(), seq, cfg, eos);
                seq.tokens.push(token);
            });
        let mut finished = Vec::new();
        let mut keep = Vec::with_capacity(self.seqs.len());
        let mut survivors = Vec::with_capacity(self.seqs.len());
        for (r, mut seq) in self.seqs.drain(..).enumerate() {
            if seq.ended(self.eos, self.max_len) {
                let Some(progress) = self.requests.get_mut(&seq.request) else {
                    return Err(BlipError::generation(
                        "continuous batching",
                        format!("row of unknown request {}", seq.request),
                    ));
                };
                progress.done[seq.request_image][seq.index] = std::mem::take(&mut seq.tokens);
                progress.running = progress.running.saturating_sub(1);
                if progress.running == 0 {
                    finished.push(seq.request);
                }
            } else {
                keep.push(r as u32);
                survivors.push(seq);
            }
        }
        self.seqs = survivors;
        self.retire_rows(model.backend(), &keep)?;
        Ok(finished
            .into_iter()
            .filter_map(|id| self.requests.remove(&id).map(|p| (id, p)))
            .collect())
    }

    /// Keeps cache rows `keep` (the survivors, in order), and only the images they use.
    fn retire_rows(&mut self, backend: &B, keep: &[u32]) -> Result<()> {
        if self.seqs.is_empty() {
            // Nothing runs: start over with a fresh cache for whoever joins next.
            self.ctx = None;
            self.starts.clear();
            self.cache = DecoderCache::with_capacity(self.layers, self.capacity);
            return Ok(());
        }
        let unchanged = keep.len() == self.starts.len()
            && keep.iter().enumerate().all(|(i, &r)| r as usize == i);
        if unchanged {
            return Ok(());
        }
        self.cache.select_rows(backend, keep)?;
        self.starts = keep.iter().map(|&r| self.starts[r as usize]).collect();
        // Images whose sequences all ended leave the context (views: nothing is copied).
        let mut used: Vec<usize> = self.seqs.iter().map(|s| s.image).collect();
        used.sort_unstable();
        used.dedup();
        if let Some(ctx) = &self.ctx {
            if used.len() < ctx.num_images() {
                let mut remap = vec![0; ctx.num_images()];
                for (new, &old) in used.iter().enumerate() {
                    remap[old] = new;
                }
                self.ctx = Some(ctx.select(&used)?);
                for s in &mut self.seqs {
                    s.image = remap[s.image];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::generate_from_embeds;
    use crate::generation::testing::{model, Request};
    use tandem_tensor::CpuBackend;

    /// Three requests joining one batch at steps 0, 2 and 5 (with the cache's leading padding
    /// dropped whenever it fills up) get, token for token, the captions each gets alone.
    fn joined_requests_match_their_own_runs(cfg: &GenerationConfig) {
        let model = model();
        let prompt = [model.config.text_config.bos_token_id];
        let requests = [
            Request::new(&model, 2, 1),
            Request::new(&model, 1, 2),
            Request::new(&model, 3, 3),
        ];
        let alone: Vec<_> = requests
            .iter()
            .map(|r| {
                generate_from_embeds(&model, &r.embeds, &r.keys(), &prompt, cfg).expect("alone")
            })
            .collect();
        let max_len = cfg.effective_max_length(prompt.len());
        // Capacity = max_length: the cache is full every few steps and must drop padding.
        let mut batch = DecodeBatch::new(&model, cfg, prompt.len(), max_len);
        let mut got: Vec<Option<Captions>> = vec![None, None, None];
        let (mut padded_steps, mut drops) = (0, 0);
        for step in 0..200 {
            for (id, join_at) in [(0usize, 0), (1, 2), (2, 5)] {
                if step == join_at {
                    let r = &requests[id];
                    let joiner =
                        prepare(&model, &r.embeds, &r.keys(), &prompt, cfg).expect("prepare");
                    batch.admit(id as u64, joiner).expect("admit");
                }
            }
            if batch.is_empty() && step > 5 {
                break;
            }
            padded_steps += usize::from(batch.starts.iter().any(|&s| s > 0));
            let before = batch.cache.len();
            for (id, progress) in batch.step(&model).expect("step") {
                got[id as usize] = Some(progress.into_captions().expect("captions"));
            }
            drops += usize::from(!batch.is_empty() && batch.cache.len() < before);
        }
        assert!(padded_steps > 0, "some steps ran rows of different starts");
        assert!(
            drops > 0,
            "the cache dropped its leading padding at least once"
        );
        for (i, (got, want)) in got.iter().zip(&alone).enumerate() {
            assert_eq!(got.as_ref(), Some(want), "request {i}");
        }
    }

    type Captions = Vec<Vec<Vec<u32>>>;

    fn settings(do_sample: bool) -> GenerationConfig {
        GenerationConfig {
            max_length: 12,
            // Long enough that later requests still run when the cache fills up.
            min_length: 10,
            do_sample,
            num_return_sequences: 3,
            seed: 7,
            ..GenerationConfig::default()
        }
    }

    #[test]
    fn sampled_requests_joining_a_running_batch_match_their_own_runs() {
        joined_requests_match_their_own_runs(&settings(true));
    }

    #[test]
    fn greedy_requests_joining_a_running_batch_match_their_own_runs() {
        joined_requests_match_their_own_runs(&GenerationConfig {
            repetition_penalty: 1.3,
            num_return_sequences: 1,
            ..settings(false)
        });
    }

    #[test]
    fn a_finished_or_repeated_request_is_refused() {
        let model = model();
        let cfg = settings(true);
        let prompt = [model.config.text_config.bos_token_id];
        let r = Request::new(&model, 1, 9);
        let mut batch = DecodeBatch::new(&model, &cfg, 1, 0);
        let joiner = prepare(&model, &r.embeds, &r.keys(), &prompt, &cfg).expect("prepare");
        batch.admit(4, joiner).expect("admit");
        let again = prepare(&model, &r.embeds, &r.keys(), &prompt, &cfg).expect("prepare");
        assert!(batch.admit(4, again).is_err(), "id 4 is already running");
        let short = GenerationConfig {
            max_length: 2,
            min_length: 0,
            ..cfg
        };
        let done = prepare(&model, &r.embeds, &r.keys(), &prompt, &short).expect("prepare");
        assert!(done.is_finished());
        assert!(batch.admit(5, done).is_err());
    }

    /// Row starts that do not fit the batch are refused, all-zero ones included (they would
    /// otherwise take the plain path unchecked).
    #[test]
    fn ragged_steps_refuse_starts_that_do_not_fit() {
        let model = model();
        let r = Request::new(&model, 1, 3);
        let ctx = model.image_context(&r.embeds).expect("ctx");
        let mut cache = DecoderCache::with_capacity(model.text.num_layers(), 8);
        let bos = model.config.text_config.bos_token_id;
        let ids = Tensor::from_slice(&CpuBackend, &[bos], &[1, 1]).expect("ids");
        model
            .text
            .step(&ids, &[(0, 1)], &ctx, &mut cache)
            .expect("prompt");
        for starts in [&[0usize, 0][..], &[], &[2]] {
            let got = model
                .text
                .step_ragged(&ids, starts, &[(0, 1)], &ctx, &mut cache);
            assert!(
                matches!(
                    got,
                    Err(BlipError::Input {
                        what: "decoder row starts",
                        ..
                    })
                ),
                "{starts:?}"
            );
        }
        assert_eq!(cache.len(), 1, "nothing was appended");
    }
}
