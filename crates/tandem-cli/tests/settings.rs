//! Every setting honoured or refused: generation settings reach BLIP exactly as given (the
//! `greedy_beams` case), impossible ones exit 1 up front naming their flag, and clap's usage
//! errors exit 1 too (2 means only "finished, some inputs failed").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .env(
            "TANDEM_HOME",
            std::env::temp_dir().join("tandem-test-home-unused"),
        )
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .expect("the tandem binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn plain() -> String {
    path("crates/tandem-blip/tests/fixtures/generation-settings/plain.png")
}

/// `tandem caption plain.png` on the tiny checkpoints with `extra` settings: the candidates.
fn captions(extra: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.jsonl").display().to_string();
    let (blip, clip, image) = (
        path("crates/tandem-blip/tests/fixtures/blip-tiny-a"),
        path("crates/tandem-clip/tests/fixtures/clip-tiny-a"),
        plain(),
    );
    let mut args = vec![
        "caption",
        &image,
        "--blip-model",
        &blip,
        "--clip-model",
        &clip,
        "-q",
        "--no-progress",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    let run = tandem(&args);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{extra:?}: {}",
        text(&run.stderr)
    );
    let line = std::fs::read_to_string(&out).expect("--out written");
    let record: Value = serde_json::from_str(line.lines().next().expect("a record")).expect("JSON");
    record["captions"]
        .as_array()
        .expect("captions")
        .iter()
        .map(|c| c["caption"].as_str().expect("text").to_string())
        .collect()
}

#[test]
fn greedy_is_a_decoding_and_one_beam_is_one_beam() {
    let base = ["-n", "1", "--max-length", "30", "--min-length", "5"];
    let greedy = captions(&[&base[..], &["--decoding", "greedy"]].concat());
    assert_eq!(
        greedy,
        ["besieged baseman ethics wiped"],
        "transformers' greedy caption"
    );
    // One beam is greedy search in transformers; it used to run 2 beams here.
    let one_beam = captions(&[&base[..], &["--decoding", "beam", "--num-beams", "1"]].concat());
    assert_eq!(one_beam, greedy);
}

/// `caption --dtype bf16|f16` runs BLIP and CLIP in that dtype end to end. It used to fail every
/// image: the image processor's f32 pixels met bf16 patch weights. Only the run is checked here:
/// the tiny random model has near-tied tokens, so its greedy caption in bf16 may differ from
/// f32's on one CPU and not another (the values of the fix are checked in tandem-nn's
/// `vision_embeddings_convert_pixels_to_the_weights_dtype`; the drift is measured by
/// `cargo run --release -p tandem-benches --bin bf16_quality`).
#[test]
fn captioning_runs_in_half_precision() {
    for dtype in ["bf16", "f16"] {
        let got = captions(&["-n", "1", "--decoding", "greedy", "--dtype", dtype]);
        assert_eq!(got.len(), 1, "{dtype}: {got:?}");
        assert!(!got[0].trim().is_empty(), "{dtype}: empty caption");
    }
}

#[test]
fn generation_flags_reach_blip() {
    let prompted = captions(&[
        "-n",
        "1",
        "--decoding",
        "greedy",
        "--prompt",
        "a picture of",
    ]);
    assert!(prompted[0].starts_with("a picture of"), "{prompted:?}");
    let beams = captions(&[
        "-n",
        "2",
        "--decoding",
        "beam",
        "--num-beams",
        "3",
        "--no-repeat-ngram-size",
        "2",
        "--repetition-penalty",
        "1.3",
        "--length-penalty",
        "-0.5",
        "--early-stopping",
        "never",
    ]);
    assert!(!beams.is_empty() && beams.len() <= 2, "{beams:?}");
}

#[test]
fn impossible_settings_exit_1_naming_the_flag() {
    let (blip, clip, image) = (
        path("crates/tandem-blip/tests/fixtures/blip-tiny-a"),
        path("crates/tandem-clip/tests/fixtures/clip-tiny-a"),
        plain(),
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["--decoding", "beam", "-n", "3", "--num-beams", "2"],
            "--num-beams",
        ),
        (&["--decoding", "sample", "--num-beams", "3"], "--num-beams"),
        (&["-n", "0"], "--captions-per-image"),
        (&["--decoding", "greedy", "-n", "3"], "--captions-per-image"),
        (
            &["--min-length", "40", "--max-length", "30"],
            "--min-length",
        ),
        (&["--max-length", "65"], "--max-length"), // blip-tiny-a has 64 positions
        (&["--max-length", "1"], "--max-length"),
        (&["--temperature", "0"], "--temperature"),
        (&["--temperature", "-1"], "--temperature"),
        (&["--sample-top-p", "0"], "--sample-top-p"),
        (&["--sample-top-p", "1.5"], "--sample-top-p"),
        (&["--repetition-penalty", "0"], "--repetition-penalty"),
        (&["--blip-batch", "0"], "--blip-batch"),
        (&["--clip-batch", "0"], "--clip-batch"),
        (&["--threads", "0"], "--threads"),
        (&["--url-timeout", "0"], "--url-timeout"),
        (&["--decoding", "nonsense"], "--decoding"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (extra, flag) in cases {
        let mut args = vec![
            "caption",
            &image,
            "--blip-model",
            &blip,
            "--clip-model",
            &clip,
            "-q",
        ];
        args.extend_from_slice(extra);
        let run = tandem(&args);
        let stderr = text(&run.stderr);
        assert_eq!(
            run.status.code(),
            Some(1),
            "{extra:?} must exit 1: {stderr}"
        );
        assert!(
            stderr.contains(flag),
            "{extra:?}: the message must name {flag}: {stderr}"
        );
        assert!(run.stdout.is_empty(), "{extra:?} printed results");
    }
    for split in ["50", "50:x", "0:100", "50:50:0", ""] {
        let run = tandem(&[
            "ab",
            &image,
            "--blip-model",
            &blip,
            "--clip-model",
            &clip,
            "--challenger-clip-model",
            &clip,
            "--split",
            split,
        ]);
        assert_eq!(
            run.status.code(),
            Some(1),
            "--split {split:?}: {}",
            text(&run.stderr)
        );
        assert!(
            text(&run.stderr).contains("--split"),
            "--split {split:?}: {}",
            text(&run.stderr)
        );
    }
    // No inputs at all is a usage error: 1, not clap's 2.
    assert_eq!(tandem(&["caption"]).status.code(), Some(1));
    assert_eq!(tandem(&["--help"]).status.code(), Some(0));
}

/// `tandem rank plain.png --dtype D` on the tiny CLIP checkpoint: the two probabilities.
fn rank_probabilities(dtype: &str) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.jsonl").display().to_string();
    let (clip, image) = (
        path("crates/tandem-clip/tests/fixtures/clip-tiny-a"),
        plain(),
    );
    let run = tandem(&[
        "rank",
        &image,
        "--clip-model",
        &clip,
        "--dtype",
        dtype,
        "-q",
        "--no-progress",
        "--out",
        &out,
        "--captions",
        "a photo of a cat",
        "a diagram",
    ]);
    assert_eq!(run.status.code(), Some(0), "{dtype}: {}", text(&run.stderr));
    let line = std::fs::read_to_string(&out).expect("--out written");
    let record: Value = serde_json::from_str(line.lines().next().expect("a record")).expect("JSON");
    let mut by_caption: Vec<(String, f64)> = record["captions"]
        .as_array()
        .expect("captions")
        .iter()
        .map(|c| {
            (
                c["caption"].as_str().expect("text").to_string(),
                c["probability"].as_f64().expect("a number"),
            )
        })
        .collect();
    by_caption.sort_by(|a, b| a.0.cmp(&b.0));
    by_caption.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn dtype_is_honoured_and_half_precision_stays_close_to_f32() {
    let f32 = rank_probabilities("f32");
    for dtype in ["bf16", "f16"] {
        let half = rank_probabilities(dtype);
        assert_eq!(half.len(), f32.len());
        assert_ne!(half, f32, "{dtype} ignored: f32's values bit for bit");
        for (h, f) in half.iter().zip(&f32) {
            assert!(h.is_finite(), "{dtype}: {half:?}");
            // Two captions: p = sigmoid(Δlogit). bf16 keeps 8 bits of mantissa (eps 2^-8); the
            // tiny model's logits (two layers, width 32, logit_scale 100) carry a relative error
            // of a few eps, so Δlogit moves by ≲ 0.4 and p by ≲ 0.1 (sigmoid' ≤ 1/4).
            assert!((h - f).abs() < 0.1, "{dtype} {half:?} vs f32 {f32:?}");
        }
    }
    let bad = tandem(&["rank", "x.png", "--dtype", "f8", "--captions", "a"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("--dtype"));
}

#[test]
fn repeated_candidates_are_merged_unless_every_candidate_is_kept() {
    // top-k 1 makes sampling deterministic: the ten candidates are one caption ten times.
    let base = [
        "--decoding",
        "sample",
        "--sample-top-k",
        "1",
        "-n",
        "10",
        "--max-length",
        "8",
    ];
    let merged = captions(&base);
    assert_eq!(merged.len(), 1, "{merged:?}");
    let kept = captions(&[&base[..], &["--keep-all-candidates"]].concat());
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert!(
        kept.iter().all(|c| c.trim() == merged[0]),
        "{kept:?} vs {merged:?}"
    );
}
