//! Parity with `transformers` on the golden fixtures: vision outputs and decoder logits within
//! 1e-4 (f32), and in bf16 / f16 within twice transformers' own drift in that dtype; greedy and
//! beam-search token ids identical (with and without the prompt, one image at a time and all
//! images in one decode batch), decoded strings identical.
//!
//! Test bodies are generic over the backend; each backend runs them with one line per test.

mod common;

use common::{fixture, Fixture, CONFIGS};
use tandem_blip::{generate, BlipCaptioner, BlipTokenizer, EarlyStopping, GenerationConfig};
use tandem_tensor::{Backend, CpuBackend, DType, Tensor};
use tandem_tensor_testing::{
    assert_close, assert_tensor_close, fixture_drift, half_precision_parity, Close,
};

/// f32 activations of unit scale after a few layers: transformers' and our kernels sum in
/// different orders, so the outputs differ by `γ_k·Σ|a·b|` per dot product of length `k ≤ 64`
/// (≈ 4e-6 relative) compounded through the layers and LayerNorm; 1e-4 absolute holds that
/// with margin and is still 1e-4 of the values' scale, far below any wrong-op error.
const TOL: Close = Close::abs(1e-4);

fn load<B: Backend>(backend: &B, fx: &Fixture) -> BlipCaptioner<B> {
    load_in(backend, fx, DType::F32)
}

fn load_in<B: Backend>(backend: &B, fx: &Fixture, dtype: DType) -> BlipCaptioner<B> {
    BlipCaptioner::from_dir(&fx.dir, backend, dtype)
        .unwrap_or_else(|e| panic!("{}: {e}", fx.dir.display()))
}

/// The allowed error of reference tensor `name` when the model runs in `dtype`: [`TOL`] in
/// f32; in bf16 / f16, [`half_precision_parity`] of how far transformers itself moves in that
/// dtype (the fixture's `half_precision.json`).
fn tolerance(fx: &Fixture, dtype: DType, name: &str) -> Close {
    match dtype {
        DType::F32 => TOL,
        half => half_precision_parity(fixture_drift(&fx.dir, half, name), TOL),
    }
}

/// Prints our distance from the f32 reference as a multiple of transformers' own drift in
/// `dtype` (the bound allows 2 plus the f32 tolerance); nothing for f32.
fn print_drift_ratio(fx: &Fixture, dtype: DType, name: &str, max_abs: f64) {
    if dtype != DType::F32 {
        let ratio = max_abs / fixture_drift(&fx.dir, dtype, name);
        println!("    {name} in {dtype}: ours/transformers drift from f32 = {ratio:.2}");
    }
}

fn pixels<B: Backend>(backend: &B, fx: &Fixture) -> Tensor<B> {
    let (shape, values) = fx.tensor("pixel_values");
    Tensor::from_slice(backend, &values, &shape).unwrap()
}

/// Vision encoder on the reference pixels: `last_hidden_state` and `pooler_output`.
pub fn vision_outputs_match<B: Backend>(backend: &B, config: &str, dtype: DType) {
    let fx = fixture(config);
    let m = load_in(backend, &fx, dtype);
    let out = m.model.encode_images(&pixels(backend, &fx)).unwrap();
    for (name, t) in [
        ("vision_last_hidden_state", &out.last_hidden_state),
        ("vision_pooler_output", &out.pooler_output),
    ] {
        let (shape, want) = fx.tensor(name);
        let tol = tolerance(&fx, dtype, name);
        let r = assert_tensor_close(&format!("{config} {name} ({dtype})"), t, &shape, &want, tol);
        print_drift_ratio(&fx, dtype, name, r.max_abs);
    }
}

/// First-step logits after `[DEC]`, last-position logits and hidden states after the prompt.
pub fn decoder_outputs_match<B: Backend>(backend: &B, config: &str, dtype: DType) {
    let fx = fixture(config);
    let m = load_in(backend, &fx, dtype);
    let embeds = m
        .model
        .encode_images(&pixels(backend, &fx))
        .unwrap()
        .last_hidden_state;
    let n = embeds.dims()[0];
    let ctx = m.model.image_context(&embeds).unwrap();
    let groups: Vec<(usize, usize)> = (0..n).map(|i| (i, 1)).collect();
    let vocab = m.model.config.text_config.vocab_size;
    let run = |prompt: &[u32]| {
        let flat: Vec<u32> = (0..n).flat_map(|_| prompt.iter().copied()).collect();
        let ids = Tensor::from_slice(backend, &flat, &[n, prompt.len()]).unwrap();
        let mut cache = tandem_blip::text::DecoderCache::new(m.model.text.num_layers());
        let hidden = m
            .model
            .text
            .forward_hidden(&ids, &groups, &ctx, &mut cache)
            .unwrap();
        let last = hidden
            .narrow(1, prompt.len() - 1, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        (
            hidden.to_vec_f32().unwrap(),
            m.model.text.lm_head(&last).unwrap().to_vec_f32().unwrap(),
        )
    };
    let bos = m.model.config.text_config.bos_token_id;
    let decoder_prompt = Fixture::ids(&fx.info["decoder_prompt_ids"]);
    assert_eq!(
        m.tokenizer
            .decoder_prompt(Some(fx.info["prompt"].as_str().unwrap()), bos)
            .unwrap(),
        decoder_prompt
    );
    // Full-vocab logits are stored for the images `logits_images` names (all four in
    // blip-tiny-a, the first two in blip-tiny-b to keep the repository small): select exactly
    // those rows, then compare shapes and every element.
    let names = fx.images();
    let logits_images: Vec<usize> = fx.info["logits_images"]
        .as_array()
        .expect("reference.json `logits_images`")
        .iter()
        .map(|v| {
            let name = v.as_str().expect("image name");
            names
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| panic!("{config}: logits image {name} not in `images`"))
        })
        .collect();
    for (name, prompt) in [
        ("logits_first_step", vec![bos]),
        ("logits_prompt_last", decoder_prompt.clone()),
    ] {
        let (shape, want) = fx.tensor(name);
        let (_, logits) = run(&prompt);
        assert_eq!(logits.len(), n * vocab, "{config} {name}: [images, vocab]");
        let rows: Vec<f32> = logits_images
            .iter()
            .flat_map(|&i| logits[i * vocab..(i + 1) * vocab].iter().copied())
            .collect();
        let r = assert_close(
            &format!("{config} {name} ({dtype})"),
            &[logits_images.len(), vocab],
            &rows,
            &shape,
            &want,
            tolerance(&fx, dtype, name),
        );
        println!("{config} {name} {shape:?}: {r}");
        print_drift_ratio(&fx, dtype, name, r.max_abs);
    }
    let (shape, want) = fx.tensor("decoder_hidden_prompt");
    let (hidden, _) = run(&decoder_prompt);
    let hidden_size = m.model.config.text_config.hidden_size;
    let r = assert_close(
        &format!("{config} decoder_hidden_prompt ({dtype})"),
        &[n, decoder_prompt.len(), hidden_size],
        &hidden,
        &shape,
        &want,
        tolerance(&fx, dtype, "decoder_hidden_prompt"),
    );
    println!("{config} decoder_hidden_prompt {shape:?}: {r}");
    print_drift_ratio(&fx, dtype, "decoder_hidden_prompt", r.max_abs);
}

fn settings(run: &str, max_length: usize) -> GenerationConfig {
    let mut cfg = GenerationConfig {
        max_length,
        ..Default::default()
    };
    if run.starts_with("beam3") {
        cfg.num_beams = 3;
        cfg.length_penalty = 1.0;
        cfg.early_stopping = if run.ends_with("_early") {
            EarlyStopping::WhenFull
        } else {
            EarlyStopping::Heuristic
        };
    }
    cfg
}

/// Greedy and beam-search ids and texts, one image per call and all images in one batch.
pub fn generations_match<B: Backend>(backend: &B, config: &str) {
    let fx = fixture(config);
    let m = load(backend, &fx);
    let px = pixels(backend, &fx);
    let images = fx.images();
    let keys: Vec<&str> = images.iter().map(String::as_str).collect();
    let max_length = fx.info["generation"]["max_length"].as_u64().unwrap() as usize;
    let runs = fx.info["generations"].as_object().unwrap();
    assert!(
        runs.len() >= 6,
        "{config}: expected greedy and beam runs, got {:?}",
        runs.keys()
    );
    for (run, reference) in runs {
        let mut cfg = settings(run, max_length);
        if run.contains("prompt") {
            cfg.prompt = Some(fx.info["prompt"].as_str().unwrap().to_string());
        }
        let want_ids: Vec<Vec<u32>> = reference["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(Fixture::ids)
            .collect();
        let want_text: Vec<&str> = reference["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let batched = m.caption(&px, &keys, &cfg).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let one = m
                .caption(&px.narrow(0, i, 1).unwrap(), &[key], &cfg)
                .unwrap();
            assert_eq!(
                one[0][0].ids, want_ids[i],
                "{config} {run} image {key}: ids (one image per call)"
            );
            assert_eq!(
                one[0][0].text, want_text[i],
                "{config} {run} image {key}: text"
            );
            assert_eq!(
                batched[i][0], one[0][0],
                "{config} {run} image {key}: batched differs from alone"
            );
        }
        println!(
            "{config} {run}: {} captions identical, e.g. {:?}",
            keys.len(),
            want_text[0]
        );
    }
}

/// The tokenizer encodes the prompt like `BertTokenizer`; a `vocab.txt`-built tokenizer
/// matches the `tokenizer.json` one on encoding and decoding.
pub fn tokenizer_matches(config: &str) {
    let fx = fixture(config);
    let tok = BlipTokenizer::from_dir(&fx.dir).unwrap();
    let prompt = fx.info["prompt"].as_str().unwrap();
    assert_eq!(
        tok.encode(prompt).unwrap(),
        Fixture::ids(&fx.info["prompt_input_ids"])
    );
    assert_eq!(tok.token_id("[DEC]"), Some(30522));
    assert_eq!(tok.token_id("[ENC]"), Some(30523));
    let vocab = fx.dir.join("vocab.txt");
    if vocab.is_file() {
        let from_vocab = BlipTokenizer::from_vocab_txt(&vocab).unwrap();
        for text in [
            prompt,
            "Two cats, sleeping on a COUCH! isn't it?",
            "naïve café",
        ] {
            let ids = tok.encode(text).unwrap();
            assert_eq!(from_vocab.encode(text).unwrap(), ids, "{text}");
            assert_eq!(
                from_vocab.decode(&ids).unwrap(),
                tok.decode(&ids).unwrap(),
                "{text}"
            );
        }
    }
    for run in fx.info["generations"].as_object().unwrap().values() {
        for (ids, text) in run["ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(run["text"].as_array().unwrap())
        {
            assert_eq!(
                tok.decode(&Fixture::ids(ids)).unwrap(),
                text.as_str().unwrap()
            );
        }
    }
}

/// Sampling: N captions per image, reproducible per (seed, image key, index) whatever the
/// batch holds; a different seed gives different captions.
pub fn sampling_is_per_sequence_reproducible<B: Backend>(backend: &B, config: &str) {
    let fx = fixture(config);
    let m = load(backend, &fx);
    let px = pixels(backend, &fx);
    let images = fx.images();
    let keys: Vec<&str> = images.iter().map(String::as_str).collect();
    let bos = m.model.config.text_config.bos_token_id;
    let cfg = GenerationConfig {
        do_sample: true,
        num_return_sequences: 4,
        top_k: 20,
        top_p: 0.9,
        temperature: 1.3,
        repetition_penalty: 1.2,
        max_length: 12,
        seed: 7,
        ..Default::default()
    };
    let all = generate(&m.model, &px, &keys, &[bos], &cfg).unwrap();
    assert_eq!(all.len(), keys.len());
    let last = keys.len() - 1;
    let alone = generate(
        &m.model,
        &px.narrow(0, last, 1).unwrap(),
        &keys[last..],
        &[bos],
        &cfg,
    )
    .unwrap();
    assert_eq!(
        alone[0], all[last],
        "captions changed with the batch composition"
    );
    assert!(all
        .iter()
        .all(|seqs| seqs.len() == 4 && seqs.iter().all(|s| s[0] == bos && s.len() <= 12)));
    let again = generate(&m.model, &px, &keys, &[bos], &cfg).unwrap();
    assert_eq!(again, all);
    let other = generate(
        &m.model,
        &px,
        &keys,
        &[bos],
        &GenerationConfig {
            seed: 8,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(other, all, "another seed gave the same captions");
    let distinct: std::collections::HashSet<&Vec<u32>> = all[0].iter().collect();
    assert!(
        distinct.len() > 1,
        "the 4 sampled captions of one image are all equal: {:?}",
        all[0]
    );
}

/// The per-request sampling streams are pinned: (seed, image key, sequence index) → token ids
/// on the committed blip-tiny-a checkpoint and its reference pixels. The promise is the same
/// captions on every platform and release, so these ids are a golden draw: recorded once from
/// this implementation (x86_64, AMD EPYC Zen 3) and never to be updated to make a change pass
/// (an intended change of the sampling algorithm must say so and update them deliberately).
#[test]
fn sampling_golden_draw_is_pinned() {
    let fx = fixture("blip-tiny-a");
    let m = load(&CpuBackend, &fx);
    let px = pixels(&CpuBackend, &fx);
    let images = fx.images();
    let keys: Vec<&str> = images.iter().map(String::as_str).collect();
    let bos = m.model.config.text_config.bos_token_id;
    let cfg = GenerationConfig {
        do_sample: true,
        num_return_sequences: 2,
        top_k: 20,
        top_p: 0.9,
        temperature: 1.3,
        max_length: 8,
        seed: 7,
        ..Default::default()
    };
    let got = generate(&m.model, &px, &keys, &[bos], &cfg).unwrap();
    assert_eq!(got, GOLDEN_DRAW, "sampled ids for seed 7 changed");
}

/// `[image][sequence] → ids` for seed 7 (see `sampling_golden_draw_is_pinned`).
const GOLDEN_DRAW: [[&[u32]; 2]; 4] = [
    [
        &[30522, 30188, 2571, 9496, 17671, 29432, 15577, 2571],
        &[30522, 1317, 18890, 21815, 17527, 29432, 24531, 11995],
    ],
    [
        &[30522, 30188, 12525, 22126, 13481, 29723, 23714, 13481],
        &[30522, 9496, 25704, 25704, 25261, 2070, 24531, 18890],
    ],
    [
        &[30522, 3676, 21491, 2571, 24531, 29723, 16797, 102],
        &[30522, 2070, 102],
    ],
    [
        &[30522, 29679, 21815, 4132, 24531, 28761, 24531, 18890],
        &[30522, 10065, 23402, 4132, 27247, 18890, 17707, 10065],
    ],
];

#[test]
fn cpu_vision_outputs_match() {
    CONFIGS
        .iter()
        .for_each(|c| vision_outputs_match(&CpuBackend, c, DType::F32));
}

#[test]
fn cpu_decoder_outputs_match() {
    CONFIGS
        .iter()
        .for_each(|c| decoder_outputs_match(&CpuBackend, c, DType::F32));
}

/// bf16 and f16: vision outputs, logits and decoder hidden states no further from
/// transformers' f32 outputs than transformers in that dtype, within `half_precision_parity`.
#[test]
fn cpu_half_precision_outputs_within_transformers_drift() {
    for config in CONFIGS {
        for dtype in [DType::BF16, DType::F16] {
            vision_outputs_match(&CpuBackend, config, dtype);
            decoder_outputs_match(&CpuBackend, config, dtype);
        }
    }
}

#[test]
fn cpu_generations_match() {
    CONFIGS
        .iter()
        .for_each(|c| generations_match(&CpuBackend, c));
}

#[test]
fn tokenizers_match() {
    CONFIGS.iter().for_each(|c| tokenizer_matches(c));
}

#[test]
fn cpu_sampling_is_per_sequence_reproducible() {
    CONFIGS
        .iter()
        .for_each(|c| sampling_is_per_sequence_reproducible(&CpuBackend, c));
}

/// The same golden checks on the wgpu backend (lavapipe in CI): GPU kernels must reproduce
/// transformers' logits within the same tolerance and its greedy/beam token ids exactly.
#[test]
fn wgpu_outputs_and_generations_match() {
    // No adapter fails the test with the fix named.
    let gpu = tandem_tensor_testing::acquire("blip parity", tandem_wgpu::WgpuBackend::shared());
    for config in CONFIGS {
        vision_outputs_match(&gpu, config, DType::F32);
        decoder_outputs_match(&gpu, config, DType::F32);
        generations_match(&gpu, config);
    }
}

/// bf16 and f16 on the wgpu kernels, within the bound derived from transformers' own drift.
#[test]
fn wgpu_half_precision_outputs_within_transformers_drift() {
    let gpu = tandem_tensor_testing::acquire("blip parity", tandem_wgpu::WgpuBackend::shared());
    for config in CONFIGS {
        for dtype in [DType::BF16, DType::F16] {
            vision_outputs_match(&gpu, config, dtype);
            decoder_outputs_match(&gpu, config, dtype);
        }
    }
}

/// The same golden checks on the CUDA backend. It needs a CUDA driver, so it is ignored with the
/// reason (listed, never a silent pass); `cargo test -p tandem-blip --test parity -- --ignored`
/// runs it on a GPU (scripts/gpu-check.sh) or on the CUDA simulator (`cargo xtask cuda-sim`, as
/// CI does); without either, a missing driver fails it with the fix named.
#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn cuda_outputs_and_generations_match() {
    let gpu =
        tandem_tensor_testing::acquire("blip parity (cuda)", tandem_cuda::CudaBackend::new(0));
    for config in CONFIGS {
        vision_outputs_match(&gpu, config, DType::F32);
        decoder_outputs_match(&gpu, config, DType::F32);
        generations_match(&gpu, config);
    }
}

/// bf16 and f16 on the CUDA kernels, within the bound derived from transformers' own drift.
#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn cuda_half_precision_outputs_within_transformers_drift() {
    let gpu =
        tandem_tensor_testing::acquire("blip parity (cuda)", tandem_cuda::CudaBackend::new(0));
    for config in CONFIGS {
        for dtype in [DType::BF16, DType::F16] {
            vision_outputs_match(&gpu, config, dtype);
            decoder_outputs_match(&gpu, config, dtype);
        }
    }
}
