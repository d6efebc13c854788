//! Caption generation: greedy search, sampling (temperature, top-k, top-p, repetition
//! penalty) and beam search, for several images at once with N captions each.
//!
//! Work done once per image, never per sequence or per step: the vision encoder, the
//! cross-attention keys/values of every decoder layer, and the decoder prompt. All state of a
//! request (self-attention caches, beams, random streams) lives in the locals of these
//! functions, so one loaded [`BlipModel`] serves concurrent requests.

mod batch;
mod beam;
mod config;
mod continuous;
pub mod logits;
mod rng;
mod sample;
#[cfg(test)]
mod testing;

pub use config::{EarlyStopping, GenerationConfig};
pub use continuous::ContinuousBatcher;
pub use rng::SequenceRng;

use crate::cross_attention::RowGroup;
use crate::error::{BlipError, Result};
use crate::model::{BlipCaptioner, BlipModel};
use crate::text::{DecoderCache, ImageContext};
use tandem_tensor::{Backend, Tensor};

/// One generated caption: its token ids (starting with the decoder prompt `[DEC] …`, ending
/// with `[SEP]` unless it hit the length limit) and its decoded text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caption {
    pub ids: Vec<u32>,
    pub text: String,
}

/// Runs decoder steps for a batch whose rows are grouped by image, and reads logits back.
pub(crate) struct DecodeStep<'a, B: Backend> {
    model: &'a BlipModel<B>,
    ctx: &'a ImageContext<B>,
    cache: DecoderCache<B>,
}

impl<B: Backend> DecodeStep<'_, B> {
    fn eos(&self) -> u32 {
        self.model.config.text_config.sep_token_id
    }
    fn vocab(&self) -> usize {
        self.model.text.vocab_size()
    }
    /// New tokens of every row (equal lengths) → logits `[rows · vocab]` on the host.
    fn run(&mut self, rows: &[Vec<u32>], groups: &[RowGroup]) -> Result<Vec<f32>> {
        let len = rows.first().map_or(0, Vec::len);
        let flat: Vec<u32> = rows.iter().flatten().copied().collect();
        let ids = Tensor::from_slice(self.model.backend(), &flat, &[rows.len(), len])?;
        let logits = self
            .model
            .text
            .step(&ids, groups, self.ctx, &mut self.cache)?;
        Ok(logits.to_vec_f32()?)
    }
    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        self.cache.select_rows(self.model.backend(), rows)
    }
}

/// Run-length groups of consecutive rows with the same image.
pub(crate) fn row_groups(images: impl Iterator<Item = usize>) -> Vec<RowGroup> {
    let mut groups: Vec<RowGroup> = Vec::new();
    for image in images {
        match groups.last_mut() {
            Some((last, count)) if *last == image => *count += 1,
            _ => groups.push((image, 1)),
        }
    }
    groups
}

/// Generates from image tokens `image_embeds: [n, tokens, dim]` (the vision encoder's
/// `last_hidden_state`); `keys[i]` names image `i` for its random streams; `prompt` is the
/// decoder prompt (`[DEC]`, then any prompt tokens). Returns per image the token ids of its
/// `num_return_sequences` captions. The request decodes on its own; see [`ContinuousBatcher`]
/// for concurrent requests sharing decoder steps.
pub fn generate_from_embeds<B: Backend>(
    model: &BlipModel<B>,
    image_embeds: &Tensor<B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    check_request(model, image_embeds, keys, prompt, cfg)?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if cfg.num_beams > 1 {
        let ctx = model.image_context(image_embeds)?;
        let max_len = cfg.effective_max_length(prompt.len());
        let mut step = DecodeStep {
            model,
            ctx: &ctx,
            // Allocated once for the longest caption; each step writes its position in place.
            cache: DecoderCache::with_capacity(model.text.num_layers(), max_len),
        };
        beam::run(&mut step, keys.len(), prompt, cfg)
    } else {
        sample::run(model, image_embeds, keys, prompt, cfg)
    }
}

/// The checks every generation request passes before any work: the configuration, the shape
/// of `image_embeds` against `keys`, the prompt's ids, and `max_length` against the prompt and
/// the decoder's positions.
pub(crate) fn check_request<B: Backend>(
    model: &BlipModel<B>,
    image_embeds: &Tensor<B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<()> {
    cfg.validate()?;
    if image_embeds.rank() != 3 || image_embeds.dims()[0] != keys.len() {
        return Err(BlipError::input(
            "image_embeds",
            format!(
                "expected [{} images, tokens, dim], got {:?}",
                keys.len(),
                image_embeds.dims()
            ),
        ));
    }
    if prompt.is_empty() {
        return Err(BlipError::input(
            "prompt",
            "the decoder prompt must start with [DEC]",
        ));
    }
    let vocab = model.text.vocab_size();
    if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
        return Err(BlipError::input(
            "prompt",
            format!("token id {bad} is outside the vocabulary of {vocab}"),
        ));
    }
    let max_len = cfg.effective_max_length(prompt.len());
    if max_len <= prompt.len() {
        return Err(BlipError::generation(
            "max_length",
            format!(
                "{max_len} leaves no room after the {}-token prompt",
                prompt.len()
            ),
        ));
    }
    if max_len > model.text.max_positions() {
        return Err(BlipError::generation(
            "max_length",
            format!(
                "{max_len} exceeds max_position_embeddings {}",
                model.text.max_positions()
            ),
        ));
    }
    Ok(())
}

/// Encodes preprocessed `pixels: [n, 3, size, size]` once and generates (see
/// [`generate_from_embeds`]).
pub fn generate<B: Backend>(
    model: &BlipModel<B>,
    pixels: &Tensor<B>,
    keys: &[&str],
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    cfg.validate()?;
    let vision = model.encode_images(pixels)?;
    generate_from_embeds(model, &vision.last_hidden_state, keys, prompt, cfg)
}

impl<B: Backend> BlipCaptioner<B> {
    /// Captions for decoded images: preprocessed as `BlipImageProcessor` does, encoded once,
    /// decoded together (see [`BlipCaptioner::caption`]).
    pub fn caption_images(
        &self,
        images: &[&tandem_image::RgbImage],
        keys: &[&str],
        cfg: &GenerationConfig,
    ) -> Result<Vec<Vec<Caption>>> {
        if images.len() != keys.len() {
            return Err(BlipError::input(
                "keys",
                format!("{} keys for {} images", keys.len(), images.len()),
            ));
        }
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let pixels = self.processor.pixel_values(self.model.backend(), images)?;
        self.caption(&pixels, keys, cfg)
    }

    /// Captions for preprocessed `pixels` (one image per `keys` entry), with the prompt of
    /// `cfg` tokenized as `BlipForConditionalGeneration.generate` does. Concurrent calls on
    /// this captioner and its clones share decoder steps ([`ContinuousBatcher`]); the captions
    /// are those of a call on its own.
    pub fn caption(
        &self,
        pixels: &Tensor<B>,
        keys: &[&str],
        cfg: &GenerationConfig,
    ) -> Result<Vec<Vec<Caption>>> {
        let bos = self.model.config.text_config.bos_token_id;
        let prompt = self.tokenizer.decoder_prompt(cfg.prompt.as_deref(), bos)?;
        cfg.validate()?;
        let vision = self.model.encode_images(pixels)?;
        // Concurrent calls on this model (RunInference workers) share decoder steps.
        let ids =
            self.batcher()
                .generate(&self.model, &vision.last_hidden_state, keys, &prompt, cfg)?;
        ids.into_iter()
            .map(|seqs| {
                seqs.into_iter()
                    .map(|ids| {
                        Ok(Caption {
                            text: self.tokenizer.decode(&ids)?,
                            ids,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::row_groups;

    /// One group per run of consecutive rows of the same image, counted, in row order; an image
    /// that comes back after another one starts a new group. (Splitting a run into single rows
    /// would give the same logits, only with one attention call per row instead of per image,
    /// so the parity tests cannot see it: this test pins the grouping itself.)
    #[test]
    fn row_groups_are_runs_of_the_same_image() {
        let groups = row_groups([0, 0, 0, 2, 2, 0].into_iter());
        assert_eq!(groups, vec![(0, 3), (2, 2), (0, 1)]);
        assert_eq!(row_groups([5].into_iter()), vec![(5, 1)]);
        assert!(row_groups(std::iter::empty()).is_empty());
    }
}
