//! The A/B pattern: inputs split deterministically by a stable hash of their key between a
//! champion and a challenger arm, a per-image metric in each arm, and a Welch comparison.
//!
//! The metric is the top-1 CLIP probability (how confidently the arm picks its best caption).
//! The arms may differ in the CLIP checkpoint (both rank the same BLIP candidates: [`build`])
//! or also in the BLIP checkpoint and decoding settings (each arm runs its own cascade:
//! [`build_cascades`]). Shadow mode, where both arms see every image, is in
//! [`crate::shadow`].

use std::fmt::Write as _;

use tandem_pipeline::PCollection;
use tandem_tensor::Backend;

use crate::cascade::{self, BlipStage, ClipStage};
use crate::images::{ImageLimits, SharedImage};
use crate::input::InputRef;
use crate::records::{ErrorRecord, ImageResult};
use crate::stats::{welch, ArmStats, Comparison, SignTest};

/// Arm names as they appear in results and reports.
pub const CHAMPION: &str = "champion";
pub const CHALLENGER: &str = "challenger";

/// Builds the A/B pipeline: shared read + BLIP, then a `[champion, challenger]` split by key
/// hash in proportion to `weights`, each arm ranking with its own CLIP stage.
pub fn build<B: Backend>(
    inputs: &PCollection<InputRef>,
    limits: ImageLimits,
    blip: &BlipStage<B>,
    arms: [&ClipStage<B>; 2],
    weights: [u32; 2],
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    let (images, read_errors) = cascade::read_images(inputs, limits);
    let (captions, blip_errors) = cascade::caption_candidates(&images, blip, "");
    let pairs = cascade::join_with_captions(&images, &captions, "");
    let split = pairs.partition_by_key_hash("SplitByKeyHash", &weights);
    let mut results = Vec::new();
    let mut errors = vec![blip_errors];
    for ((part, clip), name) in split.iter().zip(arms).zip([CHAMPION, CHALLENGER]) {
        let (r, e) = rank_arm(part, blip, clip, name);
        results.push(r);
        errors.push(e);
    }
    let results = merge(inputs, results);
    let errors = read_errors.flatten_with("AllErrors", &errors.iter().collect::<Vec<_>>());
    (results, errors)
}

/// Builds the A/B pipeline for arms that differ in BLIP too (checkpoint or decoding
/// settings): the decoded images are split by key hash in proportion to `weights` and each
/// arm runs its own BLIP → CLIP cascade. With identical BLIP stages this is [`build`], which
/// generates the candidates once.
pub fn build_cascades<B: Backend>(
    inputs: &PCollection<InputRef>,
    limits: ImageLimits,
    blips: [&BlipStage<B>; 2],
    clips: [&ClipStage<B>; 2],
    weights: [u32; 2],
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    if same_blip(blips[0], blips[1]) {
        return build(inputs, limits, blips[0], clips, weights);
    }
    let (images, read_errors) = cascade::read_images(inputs, limits);
    let split = images.partition_by_key_hash("SplitByKeyHash", &weights);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (((part, blip), clip), name) in split
        .iter()
        .zip(blips)
        .zip(clips)
        .zip([CHAMPION, CHALLENGER])
    {
        let prefix = format!("{name}/");
        let (captions, blip_errors) = cascade::caption_candidates(part, blip, &prefix);
        let pairs = cascade::join_with_captions(part, &captions, &prefix);
        let (r, e) = rank_arm(&pairs, blip, clip, name);
        results.push(r);
        errors.push(blip_errors);
        errors.push(e);
    }
    let results = merge(inputs, results);
    let errors = read_errors.flatten_with("AllErrors", &errors.iter().collect::<Vec<_>>());
    (results, errors)
}

/// Ranks one arm's image–caption pairs with the arm's CLIP stage: results carry the arm's
/// name and the BLIP checkpoint that wrote the candidates; step names are prefixed `name/`
/// (`challenger/CLIP/RunInference`). Shared by the split and shadow pipelines.
pub(crate) fn rank_arm<B: Backend>(
    pairs: &PCollection<(String, (SharedImage, Vec<String>))>,
    blip: &BlipStage<B>,
    clip: &ClipStage<B>,
    name: &str,
) -> (PCollection<ImageResult>, PCollection<ErrorRecord>) {
    cascade::rank_captions(
        pairs,
        clip,
        Some(blip.dir.display().to_string()),
        Some(name.to_string()),
        &format!("{name}/"),
    )
}

/// Whether two BLIP stages produce the same candidates (same checkpoint and settings).
pub fn same_blip<B: Backend>(a: &BlipStage<B>, b: &BlipStage<B>) -> bool {
    a.dir == b.dir && a.generation == b.generation
}

/// Flattens the arms' results into one collection.
pub(crate) fn merge(
    inputs: &PCollection<InputRef>,
    results: Vec<PCollection<ImageResult>>,
) -> PCollection<ImageResult> {
    match results.split_first() {
        Some((first, rest)) => first.flatten_with("AllResults", &rest.iter().collect::<Vec<_>>()),
        None => inputs
            .pipeline()
            .create(Vec::<ImageResult>::new())
            .named("NoArms"),
    }
}

/// One arm's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmReport {
    pub name: String,
    pub model: String,
    pub stats: ArmStats,
}

/// The comparison of the two arms (challenger − champion).
#[derive(Clone, Debug, PartialEq)]
pub struct AbReport {
    pub metric: String,
    /// Traffic split of a split test (unused in shadow mode).
    pub weights: [u32; 2],
    pub champion: ArmReport,
    pub challenger: ArmReport,
    /// Welch's interval for a split test; the paired t interval in shadow mode.
    pub comparison: Comparison,
    /// Shadow mode only: the per-image paired comparison.
    pub paired: Option<PairedReport>,
}

/// Shadow mode's per-image comparison of the two arms on the same images.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedReport {
    /// Images with a result from both arms.
    pub pairs: usize,
    /// Images with a result from one arm only (the other failed it): left out of the pairs.
    pub unpaired: usize,
    /// Sign test on the per-image difference of the metric.
    pub sign: SignTest,
    /// Images whose top-1 caption is the same text in both arms.
    pub top1_agreements: usize,
}

/// Computes the report from the results (each tagged with its arm).
pub fn report(
    results: &[ImageResult],
    models: [&str; 2],
    weights: [u32; 2],
    confidence: f64,
) -> AbReport {
    let metric_of = |arm: &str| -> Vec<f64> {
        results
            .iter()
            .filter(|r| r.arm.as_deref() == Some(arm))
            .map(|r| f64::from(r.top_probability()))
            .collect()
    };
    let a = ArmStats::of(&metric_of(CHAMPION));
    let b = ArmStats::of(&metric_of(CHALLENGER));
    let comparison = welch(&a, &b, confidence);
    AbReport {
        metric: String::from("top-1 CLIP probability"),
        weights,
        champion: ArmReport {
            name: CHAMPION.into(),
            model: models[0].into(),
            stats: a,
        },
        challenger: ArmReport {
            name: CHALLENGER.into(),
            model: models[1].into(),
            stats: b,
        },
        comparison,
        paired: None,
    }
}

fn fmt_bound(v: f64) -> String {
    if v.is_finite() {
        format!("{v:+.4}")
    } else if v > 0.0 {
        "+inf".into()
    } else {
        "-inf".into()
    }
}

/// The report as text.
pub fn text(r: &AbReport) -> String {
    let mut s = String::new();
    match &r.paired {
        None => {
            let _ = writeln!(
                s,
                "A/B test: {} (split {}/{} by key hash)",
                r.metric, r.weights[0], r.weights[1]
            );
        }
        Some(_) => {
            let _ = writeln!(
                s,
                "A/B test: {} (shadow: both arms on every image)",
                r.metric
            );
        }
    }
    for arm in [&r.champion, &r.challenger] {
        let _ = writeln!(
            s,
            "  {:<10} n={:<5} mean={:.4} sd={:.4}  [{}]",
            arm.name,
            arm.stats.n,
            arm.stats.mean,
            arm.stats.variance.sqrt(),
            arm.model
        );
    }
    let c = &r.comparison;
    let _ = writeln!(
        s,
        "  difference (challenger - champion) = {:+.4}, {:.0}% CI [{}, {}], {}{}",
        c.difference,
        c.confidence * 100.0,
        fmt_bound(c.ci_low),
        fmt_bound(c.ci_high),
        if c.significant {
            "significant"
        } else {
            "not significant"
        },
        match (c.dof, r.paired.is_some()) {
            (Some(d), false) => format!(" (Welch t, {d:.1} dof)"),
            (Some(d), true) => format!(" (paired t, {d:.0} dof)"),
            (None, _) => String::from(" (too few samples for a t interval)"),
        },
    );
    if let Some(p) = &r.paired {
        let _ = writeln!(
            s,
            "  sign test: challenger higher on {}, lower on {}, tied on {} images: p = {:.4}",
            p.sign.wins, p.sign.losses, p.sign.ties, p.sign.p_value
        );
        let agreement = if p.pairs > 0 {
            p.top1_agreements as f64 / p.pairs as f64
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "  top-1 caption agreement: {} of {} images ({:.1}%)",
            p.top1_agreements,
            p.pairs,
            agreement * 100.0
        );
        if p.unpaired > 0 {
            let _ = writeln!(
                s,
                "  {} images with a result from one arm only were left out of the pairs",
                p.unpaired
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ScoredCaption;

    fn result(image: &str, arm: &str, p: f32) -> ImageResult {
        ImageResult {
            image: image.into(),
            captions: vec![ScoredCaption {
                caption: "x".into(),
                probability: p,
            }],
            caption_model: None,
            rank_model: "m".into(),
            arm: Some(arm.into()),
            thumbnail: None,
        }
    }

    #[test]
    fn report_separates_arms_and_renders() {
        let results = vec![
            result("a", CHAMPION, 0.5),
            result("b", CHAMPION, 0.6),
            result("c", CHALLENGER, 0.9),
            result("d", CHALLENGER, 0.8),
        ];
        let r = report(&results, ["A", "B"], [50, 50], 0.95);
        assert_eq!(r.champion.stats.n, 2);
        assert!((r.champion.stats.mean - 0.55).abs() < 1e-6);
        assert!((r.comparison.difference - 0.3).abs() < 1e-6);
        let t = text(&r);
        assert!(
            t.contains("difference (challenger - champion) = +0.3000"),
            "{t}"
        );
    }
}
