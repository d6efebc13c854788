//! Every generation setting the CLI exposes matches `transformers` token for token:
//! greedy, `num_beams` 1, repetition penalty, no-repeat n-grams, length penalty, early stopping,
//! the conditional prompt, several return sequences. References: `tests/fixtures/
//! generation-settings/reference.json`, written by `xtask/fixtures/blip_settings.py`. Inputs
//! that cannot be decoded are refused with an error naming them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use tandem_blip::{
    generate_from_embeds, open_image, BlipCaptioner, BlipError, EarlyStopping, GenerationConfig,
    ImageOptions,
};
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

/// Inputs `generate_from_embeds` must refuse before decoding, each reported as an error naming
/// the input (never a panic), and the longest caption the checkpoint allows: `max_length ==
/// max_position_embeddings` runs to its last position, one more is refused. cargo-mutants found
/// no test of these checks or of the boundary.
#[test]
fn generation_inputs_are_checked_and_the_last_position_is_usable() {
    let dir = fixtures().join("generation-settings");
    let captioner =
        BlipCaptioner::from_dir(fixtures().join("blip-tiny-a"), &CpuBackend, DType::F32)
            .expect("blip-tiny-a");
    let model = &captioner.model;
    let text = &model.config.text_config;
    let (bos, vocab, positions) = (
        text.bos_token_id,
        text.vocab_size as u32,
        text.max_position_embeddings,
    );
    let img = open_image(&dir.join("plain.png"), ImageOptions::default()).expect("plain.png");
    let pixels = captioner
        .processor
        .pixel_values(model.backend(), &[&img])
        .expect("pixels");
    let embeds = model
        .encode_images(&pixels)
        .expect("encodes")
        .last_hidden_state;
    let greedy = |max_length: usize| GenerationConfig {
        max_length,
        // `[SEP]` is banned until the limit, so the caption is exactly `max_length` long.
        min_length: max_length,
        ..GenerationConfig::default()
    };
    let run = |keys: &[&str], prompt: &[u32], cfg: &GenerationConfig| {
        generate_from_embeds(model, &embeds, keys, prompt, cfg)
    };
    let input_error = |result: tandem_blip::Result<_>| match result {
        Err(BlipError::Input { what, .. }) => what,
        other => panic!("expected an input error, got {other:?}"),
    };
    let setting_error = |result: tandem_blip::Result<_>| match result {
        Err(BlipError::Generation { setting, .. }) => setting,
        other => panic!("expected a generation setting error, got {other:?}"),
    };

    // One image's tokens with two keys (the rank is right, the count is not).
    assert_eq!(
        input_error(run(&["a", "b"], &[bos], &greedy(8))),
        "image_embeds"
    );
    // No `[DEC]`, or a token past the vocabulary (the first id that is).
    assert_eq!(input_error(run(&["a"], &[], &greedy(8))), "prompt");
    assert_eq!(
        input_error(run(&["a"], &[bos, vocab], &greedy(8))),
        "prompt"
    );
    // No room for a token after the prompt, or past the position embeddings.
    let prompt = captioner
        .tokenizer
        .decoder_prompt(Some("a picture of"), bos)
        .expect("prompt");
    assert_eq!(
        setting_error(run(&["a"], &prompt, &greedy(prompt.len()))),
        "max_length"
    );
    assert_eq!(
        setting_error(run(&["a"], &[bos], &greedy(positions + 1))),
        "max_length"
    );
    // The largest allowed length decodes up to the last position embedding.
    let longest = run(&["a"], &[bos], &greedy(positions)).expect("max_length == positions");
    assert_eq!(longest.len(), 1);
    assert_eq!(longest[0].len(), 1);
    assert_eq!(longest[0][0].len(), positions);
    assert_eq!(longest[0][0][0], bos);
    // Images and keys must pair up.
    match captioner.caption_images(&[&img], &["a", "b"], &greedy(8)) {
        Err(BlipError::Input { what: "keys", .. }) => {}
        other => panic!("expected a keys error, got {other:?}"),
    }
}
