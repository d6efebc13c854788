//! The seeds' cascade as Tandem pipeline pieces:
//!
//! ```text
//! read images → BLIP preprocess → RunInference(BLIP, keyed by image id) → post-process
//!     → co_group_by_key with the images → CLIP preprocess → RunInference(CLIP, keyed) → rank → write
//! ```
//!
//! Each piece returns its main output and the dead letters of its steps as [`ErrorRecord`]s,
//! so every input leaves the pipeline either as a result or as an error record.

use std::path::PathBuf;

use tandem_blip::{BlipHandler, Caption, GenerationConfig};
use tandem_clip::{ClipRankHandler, Ranked};
use tandem_handler::{ModelHandlerExt, PredictionResult};
use tandem_image::Pixels;
use tandem_pipeline::{Applied, Elem, Failed, PCollection, RunInference};
use tandem_tensor::{Backend, DType};

use crate::images::{self, ImageLimits, SharedImage};
use crate::input::InputRef;
use crate::preprocess::{BlipPreprocess, ClipPreprocess, ClipRequest};
use crate::records::{ErrorRecord, ImageResult, ScoredCaption};

/// Decoded images keyed by id.
pub type Images = PCollection<(String, SharedImage)>;

/// The dead letters of a step whose input is keyed by image id, as error records.
pub fn keyed_errors<I: Elem, O: Elem>(
    step: &Applied<(String, I), O>,
    name: &str,
) -> PCollection<ErrorRecord> {
    step.dead_letters()
        .map(name, |f: Failed<(String, I)>| ErrorRecord {
            image: f.element.0,
            stage: f.step,
            reason: f.error,
        })
        .output()
}

/// "Read images": load and decode each input under `limits`.
pub fn read_images(
    inputs: &PCollection<InputRef>,
    limits: ImageLimits,
) -> (Images, PCollection<ErrorRecord>) {
    let read = inputs.try_map("ReadImages", move |input: InputRef| {
        images::load(&input, &limits)
    });
    let errors = read
        .dead_letters()
        .map("ReadImages/Errors", |f: Failed<InputRef>| ErrorRecord {
            image: f.element.id,
            stage: f.step,
            reason: f.error,
        })
        .output();
    (read.output(), errors)
}

/// BLIP settings of a cascade.
#[derive(Clone, Debug)]
pub struct BlipStage<B: Backend> {
    /// The `BlipForConditionalGeneration` checkpoint directory.
    pub dir: PathBuf,
    pub backend: B,
    /// The compute dtype of the model.
    pub dtype: DType,
    /// Most images per batch (at least 1 is used).
    pub batch_size: usize,
    /// Decoding settings, the handler's `inference_args`.
    pub generation: GenerationConfig,
    /// Keep every candidate as generated, empty and repeated ones included (CLIP ranks them
    /// all and the result lists N per image). Off: see [`clean_captions`].
    pub keep_all_candidates: bool,
}

/// The candidates CLIP ranks. With `keep_all` every candidate is kept as generated. Without
/// it, candidates are trimmed and empty and repeated ones dropped, keeping generation order:
/// sampling often repeats a caption, and a repeat would split one caption's probability
/// between its copies.
///
/// # Errors
/// When nothing is left to rank: no candidate at all, or (without `keep_all`) only empty ones.
pub fn clean_captions(captions: Vec<String>, keep_all: bool) -> Result<Vec<String>, String> {
    if keep_all {
        if captions.is_empty() {
            return Err(String::from("BLIP produced no caption"));
        }
        return Ok(captions);
    }
    let mut out: Vec<String> = Vec::with_capacity(captions.len());
    for c in captions {
        let c = c.trim().to_string();
        if !c.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err(String::from("BLIP produced no non-empty caption"));
    }
    Ok(out)
}

/// BLIP preprocess → RunInference(BLIP) → post-process: `(id, candidate captions)`.
pub fn caption_candidates<B: Backend>(
    images: &Images,
    blip: &BlipStage<B>,
    prefix: &str,
) -> (PCollection<(String, Vec<String>)>, PCollection<ErrorRecord>) {
    let pre = images.par_do(
        format!("{prefix}BLIP/Preprocess"),
        BlipPreprocess::new(&blip.dir),
    );
    let handler = BlipHandler::<B, Pixels>::new(&blip.dir, blip.backend.clone(), blip.dtype)
        .with_max_batch_size(blip.batch_size);
    let step = format!("{prefix}BLIP/RunInference");
    let infer = pre.output().run_inference(
        step,
        RunInference::with_inference_args(handler.keyed(), blip.generation.clone()),
    );
    let keep_all = blip.keep_all_candidates;
    let post = infer.output().try_map(
        format!("{prefix}BLIP/PostProcess"),
        move |r: PredictionResult<(String, _), Vec<Caption>>| {
            let (key, r) = r.into_keyed();
            clean_captions(r.inference.into_iter().map(|c| c.text).collect(), keep_all)
                .map(|c| (key, c))
        },
    );
    let errors = keyed_errors(&pre, &format!("{prefix}BLIP/Preprocess/Errors")).flatten_with(
        format!("{prefix}BLIP/Errors"),
        &[
            &keyed_errors(&infer, &format!("{prefix}BLIP/RunInference/Errors")),
            &post
                .dead_letters()
                .map(
                    format!("{prefix}BLIP/PostProcess/Errors"),
                    |f: Failed<PredictionResult<(String, _), Vec<Caption>>>| ErrorRecord {
                        image: f.element.example.0,
                        stage: f.step,
                        reason: f.error,
                    },
                )
                .output(),
        ],
    );
    (post.output(), errors)
}

/// Co-groups images with their captions by id; images without captions (BLIP failed them,
/// and they are already dead letters) are dropped here.
pub fn join_with_captions(
    images: &Images,
    captions: &PCollection<(String, Vec<String>)>,
    prefix: &str,
) -> PCollection<(String, (SharedImage, Vec<String>))> {
    images
        .co_group_by_key(format!("{prefix}JoinImagesWithCaptions"), captions)
        .flat_map(
            format!("{prefix}PairImageWithCaptions"),
            |(key, (imgs, caps)): (String, (Vec<SharedImage>, Vec<Vec<String>>))| match (
                imgs.into_iter().next(),
                caps.into_iter().next(),
            ) {
                (Some(img), Some(c)) => vec![(key, (img, c))],
                _ => Vec::new(),
            },
        )
        .output()
}

/// CLIP settings of a cascade or ranking.
#[derive(Clone, Debug)]
pub struct ClipStage<B: Backend> {
    /// The CLIP checkpoint directory.
    pub dir: PathBuf,
    pub backend: B,
    /// The compute dtype of the model.
    pub dtype: DType,
    /// Most images per batch (at least 1 is used).
    pub batch_size: usize,
    /// Thumbnail size for the HTML page; `None`: no thumbnails.
    pub thumbnail: Option<u32>,
}

/// CLIP preprocess → RunInference(CLIP) → rank: one [`ImageResult`] per image.
pub fn rank_captions<B: Backend>(
    pairs: &PCollection<(String, (SharedImage, Vec<String>))>,
    clip: &ClipStage<B>,
    caption_model: Option<String>,
    arm: Option<String>,
    prefix: &str,
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    let pre = pairs.par_do(
        format!("{prefix}CLIP/Preprocess"),
        ClipPreprocess::new(&clip.dir),
    );
    let handler =
        ClipRankHandler::<B, ClipRequest>::new(&clip.dir, clip.backend.clone(), clip.dtype)
            .with_max_batch_size(clip.batch_size);
    let rank_model = clip.dir.display().to_string();
    let step = format!("{prefix}CLIP/RunInference");
    let infer = pre.output().run_inference(step, handler.keyed());
    let thumb = clip.thumbnail;
    let ranked = infer.output().try_map(
        format!("{prefix}Rank"),
        move |r: PredictionResult<(String, ClipRequest), Ranked>| {
            let (image, r) = r.into_keyed();
            // JSON has no NaN (serde_json writes `null`): a non-finite probability would be a
            // result no reader can use, so the image becomes a dead letter instead.
            if let Some((caption, p)) = r.inference.iter().find(|(_, p)| !p.is_finite()) {
                return Err(format!(
                    "CLIP gave the caption {caption:?} a probability of {p}: the checkpoint computes non-finite logits (check its weights and logit_scale)"
                ));
            }
            Ok(ImageResult {
                image,
                captions: r
                    .inference
                    .into_iter()
                    .map(|(caption, probability)| ScoredCaption {
                        caption,
                        probability,
                    })
                    .collect(),
                caption_model: caption_model.clone(),
                rank_model: rank_model.clone(),
                arm: arm.clone(),
                thumbnail: thumb
                    .and_then(|side| images::thumbnail_data_uri(&r.example.image.0, side)),
            })
        },
    );
    let rank_errors = ranked
        .dead_letters()
        .map(
            format!("{prefix}Rank/Errors"),
            |f: Failed<PredictionResult<(String, ClipRequest), Ranked>>| ErrorRecord {
                image: f.element.example.0,
                stage: f.step,
                reason: f.error,
            },
        )
        .output();
    let errors = keyed_errors(&pre, &format!("{prefix}CLIP/Preprocess/Errors")).flatten_with(
        format!("{prefix}CLIP/Errors"),
        &[
            &keyed_errors(&infer, &format!("{prefix}CLIP/RunInference/Errors")),
            &rank_errors,
        ],
    );
    (ranked.output(), errors)
}

/// The whole cascade on `inputs`: ranked results and every error record.
pub fn build<B: Backend>(
    inputs: &PCollection<InputRef>,
    limits: ImageLimits,
    blip: &BlipStage<B>,
    clip: &ClipStage<B>,
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    let (images, read_errors) = read_images(inputs, limits);
    let (captions, blip_errors) = caption_candidates(&images, blip, "");
    let pairs = join_with_captions(&images, &captions, "");
    let (ranked, clip_errors) =
        rank_captions(&pairs, clip, Some(blip.dir.display().to_string()), None, "");
    let errors = read_errors.flatten_with("AllErrors", &[&blip_errors, &clip_errors]);
    (ranked, errors)
}

#[cfg(test)]
mod tests {
    use super::clean_captions;

    #[test]
    fn cleaning_drops_empty_and_duplicate_captions_in_order() {
        let all: Vec<String> = vec![" a cat ".into(), "".into(), "a dog".into(), "a cat".into()];
        assert_eq!(clean_captions(all.clone(), true).unwrap(), all);
        let got = clean_captions(all, false).unwrap();
        assert_eq!(got, vec!["a cat".to_string(), "a dog".to_string()]);
        assert!(clean_captions(vec!["  ".into()], false).is_err());
        assert_eq!(clean_captions(vec!["".into()], true).unwrap(), [""]);
        assert!(clean_captions(Vec::new(), true).is_err());
    }
}
