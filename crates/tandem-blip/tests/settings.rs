//! Every generation setting the CLI exposes matches `transformers` token for token:
//! greedy, `num_beams` 1, repetition penalty, no-repeat n-grams, length penalty, early stopping,
//! the conditional prompt, several return sequences. References: `tests/fixtures/
//! generation-settings/reference.json`, written by `xtask/fixtures/blip_settings.py`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use tandem_blip::{open_image, BlipCaptioner, EarlyStopping, GenerationConfig, ImageOptions};
use tandem_tensor::{CpuBackend, DType};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The CLI-style settings for one reference run.
fn config(reference: &Value, setting: &Value) -> GenerationConfig {
    let k = &setting["kwargs"];
    let num_beams = k["num_beams"].as_u64().unwrap_or(1) as usize;
    GenerationConfig {
        max_length: reference["max_length"].as_u64().expect("max_length") as usize,
        min_length: reference["min_length"].as_u64().expect("min_length") as usize,
        num_beams,
        num_return_sequences: k["num_return_sequences"].as_u64().unwrap_or(1) as usize,
        repetition_penalty: k["repetition_penalty"].as_f64().unwrap_or(1.0) as f32,
        no_repeat_ngram_size: k["no_repeat_ngram_size"].as_u64().unwrap_or(0) as usize,
        length_penalty: k["length_penalty"].as_f64().unwrap_or(1.0) as f32,
        early_stopping: match &k["early_stopping"] {
            Value::Bool(true) => EarlyStopping::WhenFull,
            Value::String(s) if s == "never" => EarlyStopping::Never,
            _ => EarlyStopping::Heuristic,
        },
        prompt: setting["prompt"]
            .as_bool()
            .unwrap_or(false)
            .then(|| reference["prompt"].as_str().expect("prompt").to_string()),
        ..GenerationConfig::default()
    }
}

/// transformers pads finished sequences of a batch; ours end at their first `[SEP]`.
fn unpadded(ids: &Value, eos: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for id in ids.as_array().expect("ids") {
        let id = id.as_u64().expect("id") as u32;
        out.push(id);
        if id == eos && out.len() > 1 {
            break;
        }
    }
    out
}

#[test]
fn every_exposed_setting_matches_transformers_token_for_token() {
    let dir = fixtures().join("generation-settings");
    let reference: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).expect("reference.json"))
            .expect("json");
    let captioner =
        BlipCaptioner::from_dir(fixtures().join("blip-tiny-a"), &CpuBackend, DType::F32)
            .expect("blip-tiny-a");
    let eos = captioner.model.config.text_config.sep_token_id;
    let image_path = |name: &str| {
        if name == "plain.png" {
            dir.join(name)
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/images")
                .join(name)
        }
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for setting in reference["settings"].as_array().expect("settings") {
        let name = setting["name"].as_str().expect("name");
        let cfg = config(&reference, setting);
        for image in reference["images"].as_array().expect("images") {
            let image = image.as_str().expect("image");
            let img = open_image(&image_path(image), ImageOptions::default()).expect("image");
            let got = captioner
                .caption_images(&[&img], &[image], &cfg)
                .expect("generates");
            let got: Vec<Vec<u32>> = got[0].iter().map(|c| c.ids.clone()).collect();
            let want: Vec<Vec<u32>> = reference["sequences"][name][image]
                .as_array()
                .expect("sequences")
                .iter()
                .map(|ids| unpadded(ids, eos))
                .collect();
            checked += 1;
            if got != want {
                failures.push(format!(
                    "{name} on {image}: got {got:?}, transformers {want:?}"
                ));
            }
        }
    }
    assert!(checked >= 30, "reference lost cases");
    assert!(
        failures.is_empty(),
        "settings differ from transformers:\n  {}",
        failures.join("\n  ")
    );
}

/// The issue's `greedy_beams` case: greedy decoding of `plain.png`, `-n 1 --max-length 30
/// --min-length 5`, gives transformers' caption.
#[test]
fn greedy_caption_of_the_plain_case() {
    let dir = fixtures().join("generation-settings");
    let captioner =
        BlipCaptioner::from_dir(fixtures().join("blip-tiny-a"), &CpuBackend, DType::F32)
            .expect("blip-tiny-a");
    let img = open_image(&dir.join("plain.png"), ImageOptions::default()).expect("plain.png");
    let cfg = GenerationConfig {
        max_length: 30,
        min_length: 5,
        ..GenerationConfig::default()
    };
    let got = captioner
        .caption_images(&[&img], &["plain"], &cfg)
        .expect("generates");
    assert_eq!(got[0][0].text, "besieged baseman ethics wiped");
}
