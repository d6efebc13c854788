//! The golden parity suite, written once over the backend: a backend's test file calls
//! `common::parity_suite(&backend)` (see `parity_cpu.rs`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use tandem_clip::ClipModel;
use tandem_image::{open_image, ImageOptions, RgbImage};
use tandem_nn::SafetensorsFile;
use tandem_tensor::{Backend, DType, Tensor};
use tandem_tensor_testing::{
    assert_close, assert_close_slices, assert_tensor_close, fixture_drift, half_precision_parity,
    Close,
};

pub const CONFIGS: [&str; 2] = ["clip-tiny-a", "clip-tiny-b"];

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images")
}

pub struct Fixture {
    pub dir: PathBuf,
    pub reference: SafetensorsFile,
    pub info: serde_json::Value,
}

impl Fixture {
    pub fn open(name: &str) -> Self {
        let dir = fixture(name);
        let reference = SafetensorsFile::open(dir.join("reference.safetensors"))
            .expect("reference.safetensors");
        let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
        Fixture {
            dir,
            reference,
            info: serde_json::from_str(&text).expect("reference.json parses"),
        }
    }
    /// A reference tensor as (shape, f32 values).
    pub fn tensor(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let entry = self
            .reference
            .entry(name)
            .unwrap_or_else(|| panic!("reference tensor `{name}` missing"));
        (entry.shape, self.f32(name))
    }
    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.reference
            .read_f32(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    pub fn strings(&self, key: &str) -> Vec<String> {
        serde_json::from_value(self.info[key].clone()).unwrap_or_else(|e| panic!("{key}: {e}"))
    }
    pub fn images(&self, key: &str) -> Vec<RgbImage> {
        self.strings(key)
            .iter()
            .map(|n| {
                open_image(&images_dir().join(n), ImageOptions::default())
                    .unwrap_or_else(|e| panic!("{n}: {e}"))
            })
            .collect()
    }
}

/// Golden f32 activations of unit scale: transformers and our kernels sum dot products of
/// length ≤ 56 in different orders (γ_56·Σ|a·b| ≈ 3e-6·Σ|a·b|) through ≤ 3 layers and
/// LayerNorms; 1e-4 absolute holds that with margin and is 1e-4 of the values' scale.
pub const ACTIVATIONS: Close = Close::abs(1e-4);

/// Compares `got` with the reference tensor `name` (shape from the reference file): shapes
/// first, then every element; NaN fails. Returns the max abs error.
pub fn check<B: Backend>(f: &Fixture, got: &Tensor<B>, name: &str, tol: Close) -> f64 {
    let (shape, want) = f.tensor(name);
    assert_tensor_close(name, got, &shape, &want, tol).max_abs
}

/// Token ids and attention mask identical to `CLIPTokenizerFast`'s (padding=True).
pub fn token_ids<B: Backend>(backend: &B, name: &str) {
    let f = Fixture::open(name);
    let model = ClipModel::load(&f.dir, backend, DType::F32).expect("load");
    let captions = f.strings("captions");
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let batch = model.tokenize(&refs).expect("tokenize");
    let want: Vec<i64> = f.reference.read_i64("input_ids").expect("ids");
    let mask: Vec<i64> = f.reference.read_i64("attention_mask").expect("mask");
    assert_eq!(
        batch.ids.iter().map(|&x| x as i64).collect::<Vec<_>>(),
        want,
        "{name}: input_ids"
    );
    assert_eq!(
        batch.mask.iter().map(|&x| x as i64).collect::<Vec<_>>(),
        mask,
        "{name}: attention_mask"
    );
    let eos: Vec<usize> = serde_json::from_value(f.info["eos_positions"].clone()).expect("eos");
    let cfg = model.config().text_config.eos_token_id;
    assert_eq!(
        tandem_clip::eos_positions(&batch, cfg),
        eos,
        "{name}: pooling positions"
    );
}

/// `pixel_values` within one 8-bit level (after normalisation) of `CLIPImageProcessor`;
/// returns the max abs difference.
pub fn pixel_values<B: Backend>(backend: &B, name: &str) -> f64 {
    let f = Fixture::open(name);
    let model = ClipModel::load(&f.dir, backend, DType::F32).expect("load");
    let tol = Close::abs(
        f.info["tolerances"]["pixel_values_abs"]
            .as_f64()
            .expect("tolerance")
            + 1e-6,
    );
    let mut worst = 0f64;
    for (key, tensor, processor) in [
        ("images", "pixel_values", model.processor().clone()),
        (
            "images_224",
            "pixel_values_224",
            tandem_image::ImageProcessor::clip(224),
        ),
    ] {
        let images = f.images(key);
        if images.is_empty() {
            // clip-tiny-b stores no 224 reference (`images_224` is empty by design).
            continue;
        }
        let refs: Vec<&RgbImage> = images.iter().collect();
        let got = processor.pixel_values(backend, &refs).expect("preprocess");
        let (shape, want) = f.tensor(tensor);
        let g = got.to_vec_f32().expect("download");
        let per = g.len() / images.len();
        for (i, img) in f.strings(key).iter().enumerate() {
            let n = g[i * per..(i + 1) * per]
                .iter()
                .zip(&want[i * per..(i + 1) * per])
                .filter(|(a, b)| (*a - *b).abs() > 1e-4)
                .count();
            eprintln!("    {img:<16} {n} values off by one level");
        }
        let r = assert_close(
            &format!("{name} {tensor} (within one 8-bit level)"),
            got.dims(),
            &g,
            &shape,
            &want,
            tol,
        );
        eprintln!("  {name} {tensor:<20} {r}");
        worst = worst.max(r.max_abs);
    }
    worst
}

/// Both towers, features and logits from the reference `pixel_values` and ids: ≤ 1e-4.
pub fn model_outputs<B: Backend>(backend: &B, name: &str) -> f64 {
    model_outputs_in(backend, name, DType::F32)
}

/// [`model_outputs`] with the model loaded in `dtype`: every tensor, and the ranking
/// probabilities, against the f32 reference. f32 allows [`ACTIVATIONS`]; a half dtype allows
/// [`half_precision_parity`] of transformers' own drift in that dtype, and the ratio of our
/// error to that drift is printed. Returns the max abs error.
pub fn model_outputs_in<B: Backend>(backend: &B, name: &str, dtype: DType) -> f64 {
    let f = Fixture::open(name);
    let model = ClipModel::load(&f.dir, backend, dtype).expect("load");
    let (shape, pixels) = f.tensor("pixel_values");
    let pixels = Tensor::from_slice(backend, &pixels, &shape).expect("pixels");
    let captions = f.strings("captions");
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let tokens = model.tokenize(&refs).expect("tokenize");
    eprintln!("{name} in {dtype}:");
    let mut worst = 0f64;
    let mut check = |tensor: &str, got: &Tensor<B>| {
        let (want_shape, want) = f.tensor(tensor);
        let tol = match dtype {
            DType::F32 => ACTIVATIONS,
            half => half_precision_parity(fixture_drift(&f.dir, half, tensor), ACTIVATIONS),
        };
        let what = format!("{name} {tensor} ({dtype})");
        let r = assert_tensor_close(&what, got, &want_shape, &want, tol);
        if dtype != DType::F32 {
            let drift = fixture_drift(&f.dir, dtype, tensor);
            eprintln!(
                "    {tensor:<26} ours/transformers drift from f32: {:.2}",
                r.max_abs / drift
            );
        }
        worst = worst.max(r.max_abs);
    };
    let vision = model.vision_forward(&pixels).expect("vision");
    check("vision_last_hidden_state", &vision.last_hidden_state);
    // The tower's own pooled output (`post_layernorm` of the class token, width
    // vision hidden): a width mismatch fails, there is no fallback to the projected tensor.
    check("vision_pooler_output", &vision.pooled);
    let img = model
        .image_features_from_pixels(&pixels)
        .expect("image features");
    let text = model.text_forward(&tokens).expect("text");
    check("text_last_hidden_state", &text.last_hidden_state);
    check("text_pooler_output", &text.pooled);
    let txt = model
        .text_features_from_tokens(&tokens)
        .expect("text features");
    check("image_features", &img);
    check("text_features", &txt);
    check("image_embeds", &img.l2_normalize(0.0).expect("n"));
    check("text_embeds", &txt.l2_normalize(0.0).expect("n"));
    let logits = model.logits_per_image(&img, &txt).expect("logits");
    check("logits_per_image", &logits);
    if dtype != DType::F32 {
        // The probabilities `rank` reports, put back in caption order (f32 checks them in
        // `rank`, against reference.json's list).
        let lists: Vec<&[&str]> = (0..shape[0]).map(|_| refs.as_slice()).collect();
        let ranked = model.rank_pixels(&pixels, &lists).expect("rank pixels");
        let mut probs = vec![0f32; shape[0] * refs.len()];
        for (i, list) in ranked.iter().enumerate() {
            for (caption, p) in list {
                let j = refs.iter().position(|c| c == caption).expect("caption");
                probs[i * refs.len() + j] = *p;
            }
        }
        let probs = Tensor::from_slice(backend, &probs, &[shape[0], refs.len()]).expect("probs");
        check("rank_probs", &probs);
    }
    worst
}

/// `rank` reproduces the reference order and probabilities (≤ `probs_abs`) from the reference
/// `pixel_values`; and end to end from the photos (our decoding and preprocessing included) the
/// order is identical, with probabilities within `probs_abs` for every photo whose
/// `pixel_values` we reproduce exactly (the PNGs). The JPEG decodes a level apart on a few
/// pixels (zune-jpeg vs libjpeg-turbo), which moves this tiny random model's probabilities by
/// up to ~2e-4; that is reported and bounded by 1e-3. Returns the worst end-to-end error.
pub fn rank<B: Backend>(backend: &B, name: &str) -> f64 {
    let f = Fixture::open(name);
    let model = ClipModel::load(&f.dir, backend, DType::F32).expect("load");
    let images = f.images("images");
    let captions = f.strings("captions");
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let tol = f.info["tolerances"]["probs_abs"]
        .as_f64()
        .expect("reference.json tolerances.probs_abs");
    let s = model.config().vision_config.image_size;
    let ref_pixels = Tensor::from_slice(backend, &f.f32("pixel_values"), &[images.len(), 3, s, s])
        .expect("pixels");
    let lists: Vec<&[&str]> = images.iter().map(|_| refs.as_slice()).collect();
    let from_ref = model.rank_pixels(&ref_pixels, &lists).expect("rank pixels");
    let requests: Vec<(&RgbImage, &[&str])> = images.iter().map(|i| (i, refs.as_slice())).collect();
    let end_to_end = model.rank_many(&requests).expect("rank");
    let ours = model
        .processor()
        .pixel_values(backend, &images.iter().collect::<Vec<_>>())
        .expect("pp")
        .to_vec_f32()
        .expect("dl");
    let theirs = f.f32("pixel_values");
    let per = ours.len() / images.len();
    let mut worst = 0f64;
    let names = f.strings("images");
    for (i, want) in f.info["rank"].as_array().expect("rank").iter().enumerate() {
        let want_caps: Vec<String> =
            serde_json::from_value(want["captions"].clone()).expect("captions");
        let want_p: Vec<f32> = serde_json::from_value(want["probs"].clone()).expect("probs");
        for (label, got) in [
            ("reference pixels", &from_ref[i]),
            ("end to end", &end_to_end[i]),
        ] {
            let got_caps: Vec<String> = got.iter().map(|(c, _)| c.clone()).collect();
            let got_p: Vec<f32> = got.iter().map(|(_, p)| *p).collect();
            assert_eq!(
                got_caps, want_caps,
                "{name} {} ({label}): ranking order",
                names[i]
            );
            let exact_pixels = ours[i * per..(i + 1) * per] == theirs[i * per..(i + 1) * per];
            let limit = if label == "reference pixels" || exact_pixels {
                tol
            } else {
                1e-3
            };
            // Probabilities of 6 captions (about 1/6 each for these tiny random models): the
            // reference's absolute bound is 1e-4 of them; and
            // each list sums to 1 (Σ of 6 f32 values: within 6·u32 + the softmax's own error).
            let err = assert_close_slices(
                &format!("{name} {} ({label}) probabilities", names[i]),
                &got_p,
                &want_p,
                Close::abs(limit),
            )
            .max_abs;
            tandem_tensor_testing::assert_row_sums(
                &format!("{name} {} ({label})", names[i]),
                &[1, got_p.len()],
                &got_p,
                1e-5,
            );
            eprintln!(
                "  {name} {:<14} {label:<16} order identical, max prob err {err:.3e}",
                names[i]
            );
            if label == "end to end" {
                worst = worst.max(err);
            }
        }
    }
    let single = model.rank(&images[0], &refs).expect("rank one");
    // Batch size changes GEMM blocking, hence the last bits: same order, same probabilities to 1e-6.
    let caps = |r: &tandem_clip::Ranked| r.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    let probs = |r: &tandem_clip::Ranked| r.iter().map(|(_, p)| *p).collect::<Vec<_>>();
    assert_eq!(
        caps(&single),
        caps(&end_to_end[0]),
        "rank and rank_many agree on the order"
    );
    assert_close_slices(
        "rank and rank_many probabilities",
        &probs(&single),
        &probs(&end_to_end[0]),
        Close::abs(1e-6),
    );
    worst
}

/// Everything, for every fixture config.
pub fn parity_suite<B: Backend>(backend: &B) {
    for name in CONFIGS {
        token_ids(backend, name);
        pixel_values(backend, name);
        model_outputs(backend, name);
        rank(backend, name);
    }
}
