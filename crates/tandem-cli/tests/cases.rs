//! The shared cases through the `tandem` binary: each file gives its right value
//! (`tests/cases/README.md`), from Python transformers + Pillow 13.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tandem_tensor_testing::{assert_close_slices, assert_row_sums, Close};

const CAPTIONS: [&str; 4] = [
    "a photo of a cat",
    "a rocket launching",
    "dog",
    "a cup of coffee",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// `tandem rank FILE --clip-model clip-tiny-a --captions …`: probabilities in CAPTIONS order.
fn rank(file: &str) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("rank.jsonl");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(file);
    let clip = root().join("crates/tandem-clip/tests/fixtures/clip-tiny-a");
    let (path, clip, out_s) = (
        path.display().to_string(),
        clip.display().to_string(),
        out.display().to_string(),
    );
    let mut args = vec![
        "rank",
        &path,
        "--clip-model",
        &clip,
        "-q",
        "--no-progress",
        "--out",
        &out_s,
        "--captions",
    ];
    args.extend(CAPTIONS);
    let run = tandem(&args);
    assert_eq!(run.status.code(), Some(0), "{file}: {}", text(&run.stderr));
    let line = std::fs::read_to_string(&out).expect("--out written");
    let record: Value =
        serde_json::from_str(line.lines().next().expect("one record")).expect("JSON");
    CAPTIONS
        .iter()
        .map(|c| {
            record["captions"]
                .as_array()
                .expect("captions")
                .iter()
                .find(|r| r["caption"] == *c)
                .and_then(|r| r["probability"].as_f64())
                .unwrap_or_else(|| panic!("{file}: no probability for {c:?} in {record}"))
        })
        .collect()
}

fn assert_right(file: &str, want: [f64; 4]) {
    let got = rank(file);
    // transformers + Pillow's probabilities for the captions in `CAPTIONS` order, printed to 6
    // decimals (±5e-7) from a tiny random model whose f32 outputs agree to ~1e-5: 1e-4.
    assert_close_slices(
        &format!("{file}: probabilities of {CAPTIONS:?}"),
        &got,
        &want[..],
        Close::abs(1e-4),
    );
    assert_row_sums(file, &[1, got.len()], &got, 1e-5);
}

#[test]
fn jpeg_decoded_as_pillow_decodes_it() {
    assert_right("g420.jpg", [0.437585, 0.026088, 0.534482, 0.001844]);
}

#[test]
fn tall_image_resized_in_pillow_13_pass_order() {
    assert_right("img_33x100.png", [0.774693, 0.192720, 0.024505, 0.008082]);
}

#[test]
fn every_listed_format_is_an_input() {
    for file in ["img.bmp", "img.webp", "img.tiff"] {
        assert_right(file, [0.586998, 0.037767, 0.374877, 0.000357]);
    }
    assert_right("img.gif", [0.510215, 0.029698, 0.459545, 0.000543]);
}
