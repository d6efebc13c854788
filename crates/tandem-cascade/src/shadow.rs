//! Shadow mode of the A/B test (`tandem ab --shadow`): both arms run on every image, so each
//! image is its own control. The per-image difference of the metric (challenger − champion
//! top-1 CLIP probability) removes the image-to-image spread that a split test has to average
//! out, so a paired comparison needs far fewer images for the same interval width.
//!
//! ```text
//! read images ─┬─ champion BLIP → join → champion CLIP ─┬─ results (two per image, tagged by arm)
//!              └─ challenger BLIP → join → challenger CLIP ┘
//! ```
//!
//! When both arms use the same BLIP checkpoint and settings, the candidates are generated once
//! and both CLIP checkpoints rank the same captions.

use std::collections::BTreeMap;

use tandem_pipeline::PCollection;
use tandem_tensor::Backend;

use crate::ab::{self, AbReport, ArmReport, PairedReport, CHALLENGER, CHAMPION};
use crate::cascade::{self, BlipStage, ClipStage};
use crate::images::ImageLimits;
use crate::input::InputRef;
use crate::records::{ErrorRecord, ImageResult};
use crate::stats::{paired_t, sign_test, ArmStats};

/// Builds the shadow pipeline: every decoded image goes through both arms' cascades (sharing
/// BLIP when [`ab::same_blip`]); each arm's results carry its name in `arm`, its step names
/// are prefixed with it (`champion/CLIP/RunInference`).
pub fn build<B: Backend>(
    inputs: &PCollection<InputRef>,
    limits: ImageLimits,
    blips: [&BlipStage<B>; 2],
    clips: [&ClipStage<B>; 2],
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    let (images, read_errors) = cascade::read_images(inputs, limits);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let shared = ab::same_blip(blips[0], blips[1]).then(|| {
        let (captions, blip_errors) = cascade::caption_candidates(&images, blips[0], "");
        errors.push(blip_errors);
        cascade::join_with_captions(&images, &captions, "")
    });
    for ((blip, clip), name) in blips.into_iter().zip(clips).zip([CHAMPION, CHALLENGER]) {
        let prefix = format!("{name}/");
        let pairs = match &shared {
            Some(pairs) => pairs.clone(),
            None => {
                let (captions, blip_errors) = cascade::caption_candidates(&images, blip, &prefix);
                errors.push(blip_errors);
                cascade::join_with_captions(&images, &captions, &prefix)
            }
        };
        let (r, e) = ab::rank_arm(&pairs, blip, clip, name);
        results.push(r);
        errors.push(e);
    }
    let results = ab::merge(inputs, results);
    let errors = read_errors.flatten_with("AllErrors", &errors.iter().collect::<Vec<_>>());
    (results, errors)
}

/// The paired report from shadow results (each tagged with its arm; earlier runs' results
/// included). Images with only one arm's result are counted in
/// [`PairedReport::unpaired`] and left out; the arms' statistics, the paired t interval
/// (challenger − champion) and the sign test are over the paired images only.
pub fn report(results: &[ImageResult], models: [&str; 2], confidence: f64) -> AbReport {
    let mut by_image: BTreeMap<&str, [Option<&ImageResult>; 2]> = BTreeMap::new();
    for r in results {
        let slot = match r.arm.as_deref() {
            Some(CHAMPION) => 0,
            Some(CHALLENGER) => 1,
            _ => continue,
        };
        by_image.entry(r.image.as_str()).or_default()[slot] = Some(r);
    }
    let mut champion = Vec::new();
    let mut challenger = Vec::new();
    let mut top1_agreements = 0;
    let mut unpaired = 0;
    for arms in by_image.values() {
        let [Some(a), Some(b)] = arms else {
            unpaired += 1;
            continue;
        };
        champion.push(f64::from(a.top_probability()));
        challenger.push(f64::from(b.top_probability()));
        let top1 = |r: &ImageResult| r.captions.first().map(|c| c.caption.clone());
        if top1(a).is_some() && top1(a) == top1(b) {
            top1_agreements += 1;
        }
    }
    let differences: Vec<f64> = challenger
        .iter()
        .zip(&champion)
        .map(|(b, a)| b - a)
        .collect();
    AbReport {
        metric: String::from("top-1 CLIP probability"),
        weights: [1, 1],
        champion: ArmReport {
            name: CHAMPION.into(),
            model: models[0].into(),
            stats: ArmStats::of(&champion),
        },
        challenger: ArmReport {
            name: CHALLENGER.into(),
            model: models[1].into(),
            stats: ArmStats::of(&challenger),
        },
        comparison: paired_t(&differences, confidence),
        paired: Some(PairedReport {
            pairs: differences.len(),
            unpaired,
            sign: sign_test(&differences),
            top1_agreements,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ScoredCaption;

    fn result(image: &str, arm: &str, caption: &str, p: f32) -> ImageResult {
        ImageResult {
            image: image.into(),
            captions: vec![ScoredCaption {
                caption: caption.into(),
                probability: p,
            }],
            caption_model: None,
            rank_model: "m".into(),
            arm: Some(arm.into()),
            thumbnail: None,
        }
    }

    #[test]
    fn pairs_by_image_and_reports_sign_test_and_agreement() {
        let results = vec![
            result("a", CHAMPION, "a cat", 0.50),
            result("a", CHALLENGER, "a cat", 0.60),
            result("b", CHALLENGER, "a dog", 0.70),
            result("b", CHAMPION, "a hound", 0.55),
            result("c", CHAMPION, "a car", 0.40),
            result("c", CHALLENGER, "a car", 0.40),
            // One arm only: not a pair.
            result("d", CHAMPION, "a tree", 0.9),
        ];
        let r = report(&results, ["A", "B"], 0.95);
        let p = r.paired.as_ref().unwrap();
        assert_eq!((p.pairs, p.unpaired, p.top1_agreements), (3, 1, 2));
        assert_eq!((p.sign.wins, p.sign.losses, p.sign.ties), (2, 0, 1));
        assert_eq!(r.champion.stats.n, 3);
        // Mean of the differences 0.10, 0.15, 0.00.
        assert!((r.comparison.difference - 0.25 / 3.0).abs() < 1e-6);
        assert_eq!(r.comparison.dof, Some(2.0));
        let t = ab::text(&r);
        assert!(t.contains("shadow: both arms on every image"), "{t}");
        assert!(t.contains("top-1 caption agreement: 2 of 3 images"), "{t}");
        assert!(
            t.contains("sign test: challenger higher on 2, lower on 0, tied on 1"),
            "{t}"
        );
        assert!(t.contains("(paired t, 2 dof)"), "{t}");
        assert!(
            t.contains("1 images with a result from one arm only"),
            "{t}"
        );
    }
}
