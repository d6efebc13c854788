//! Bring your own model into a cascade: CLIP embeds each image, then an ONNX classifier (any
//! model exported to ONNX) classifies the embedding.
//!
//! ```text
//! ORT_DYLIB_PATH=$(cargo xtask onnxruntime) cargo run -p tandem-cascade --example onnx_cascade
//! ORT_DYLIB_PATH=... cargo run -p tandem-cascade --example onnx_cascade -- IMAGES CLIP_DIR MODEL.onnx
//! ```
//! read images → RunInference(CLIP image embeddings, keyed by image) → to named tensors →
//! RunInference(ONNX classifier, keyed) → print.
//!
//! With no arguments it runs the committed fixtures: the photos in `examples/images`, the tiny
//! random CLIP checkpoint `clip-tiny-a`, and `classifier.onnx` from
//! `crates/tandem-onnx/tests/fixtures/onnx-tiny` (random weights: the classes mean nothing),
//! and compares every probability with what Python `onnxruntime` computed from transformers'
//! CLIP embeddings of the same photos (`reference.safetensors` there, `clip_probs`). The
//! tolerance is CLIP's own parity bound, 1e-4. `crates/tandem-cascade/tests/onnx_cascade.rs` runs
//! this check in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tandem_cascade::cascade;
use tandem_cascade::images::{ImageLimits, SharedImage};
use tandem_cascade::input;
use tandem_clip::ClipModel;
use tandem_handler::{BatchConfig, HandlerError, ModelHandler, ModelHandlerExt};
use tandem_onnx::{NamedTensors, OnnxModelHandler, TensorValue};
use tandem_pipeline::Pipeline;
use tandem_tensor::{CpuBackend, DType};

/// CLIP's `image_embeds`: `get_image_features` L2-normalised, one `[projection_dim]` vector per
/// image, all images of a batch in one vision forward.
struct ClipImageEmbeddings {
    dir: PathBuf,
}

impl ModelHandler for ClipImageEmbeddings {
    type Example = SharedImage;
    type Prediction = Vec<f32>;
    type Model = ClipModel<CpuBackend>;
    type Args = ();

    fn load_model(&self) -> Result<Self::Model, HandlerError> {
        ClipModel::load(&self.dir, &CpuBackend, DType::F32)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&SharedImage],
        model: &Self::Model,
        _args: &(),
    ) -> Result<Vec<Vec<f32>>, HandlerError> {
        let images: Vec<_> = batch.iter().map(|s| &*s.0).collect();
        let features = model
            .image_features(&images)
            .and_then(|t| Ok(t.to_vec_f32()?))
            .map_err(|e| HandlerError::from_error(&e))?;
        let dim = features.len() / batch.len().max(1);
        Ok(features
            .chunks(dim.max(1))
            .map(|row| {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                row.iter().map(|x| x / norm).collect()
            })
            .collect())
    }

    fn model_id(&self) -> String {
        format!("clip-image-embeds:{}", self.dir.display())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 4,
            ..Default::default()
        }
    }
}

/// What the cascade produced: class probabilities per image (by file name), and failures.
pub struct CascadeOutput {
    pub probs: BTreeMap<String, Vec<f32>>,
    pub errors: Vec<String>,
}

/// Builds and runs the cascade over `images` (a folder), CLIP checkpoint `clip_dir` and ONNX
/// model `onnx` (input `image_embeds [batch, D]`, output `probs [batch, C]`).
pub fn run_cascade(
    images: &Path,
    clip_dir: &Path,
    onnx: &Path,
) -> Result<CascadeOutput, Box<dyn std::error::Error>> {
    // Fail early, with the install hint, when ONNX Runtime is missing.
    tandem_onnx::runtime::environment(None)?;
    let p = Pipeline::new();
    let files = p.create(input::folder(images)?).named("ListInputs");
    let (decoded, read_errors) = cascade::read_images(&files, ImageLimits::default());

    let embedder = ClipImageEmbeddings {
        dir: clip_dir.to_path_buf(),
    };
    let embedded = decoded.run_inference("ClipImageEmbeds", embedder.keyed::<String>());
    let classifier = OnnxModelHandler::new(onnx).with_batch_config(BatchConfig {
        max_batch_size: 8,
        ..Default::default()
    });
    let classified = embedded
        .map("ToTensors", |r| {
            let (id, r) = r.into_keyed();
            let tensors =
                NamedTensors::new().with("image_embeds", TensorValue::vector_f32(r.inference));
            (id, tensors)
        })
        .run_inference("OnnxClassifier", classifier.keyed::<String>());
    let probs = classified
        .map("Probs", |r| {
            let (id, r) = r.into_keyed();
            let probs = r
                .inference
                .get("probs")
                .and_then(TensorValue::as_f32)
                .map(<[f32]>::to_vec)
                .unwrap_or_default();
            (id, probs)
        })
        .collect("Collect");
    let errors = read_errors
        .map("ReadErrors", |e| format!("{}: {}", e.image, e.reason))
        .flatten_with(
            "AllErrors",
            &[
                &embedded
                    .dead_letters()
                    .map("EmbedErrors", |f| format!("{f:?}"))
                    .output(),
                &classified
                    .dead_letters()
                    .map("ClassifyErrors", |f| format!("{f:?}"))
                    .output(),
            ],
        )
        .collect("Errors");
    p.run()?;
    let probs = probs
        .take()
        .into_iter()
        .map(|(id, p)| {
            let name = Path::new(&id)
                .file_name()
                .map_or(id.clone(), |n| n.to_string_lossy().into_owned());
            (name, p)
        })
        .collect();
    Ok(CascadeOutput {
        probs,
        errors: errors.take(),
    })
}

/// The committed reference: `clip_probs` rows in the order of `clip_images`.
pub fn reference(
    fixtures: &Path,
) -> Result<BTreeMap<String, Vec<f32>>, Box<dyn std::error::Error>> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("reference.json"))?)?;
    let bytes = std::fs::read(fixtures.join("reference.safetensors"))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)?;
    let probs = tensors.tensor("clip_probs")?;
    let classes = probs.shape()[1];
    let values: Vec<f32> = probs
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let names = json["clip_images"]
        .as_array()
        .ok_or("reference.json: no clip_images")?;
    Ok(names
        .iter()
        .zip(values.chunks(classes))
        .map(|(n, row)| (n.as_str().unwrap_or_default().to_string(), row.to_vec()))
        .collect())
}

/// The largest difference between the cascade's and the reference's probabilities, or an
/// error naming an image missing on either side.
pub fn max_difference(
    got: &BTreeMap<String, Vec<f32>>,
    want: &BTreeMap<String, Vec<f32>>,
) -> Result<f32, String> {
    let mut worst = 0.0f32;
    for (name, expected) in want {
        let actual = got
            .get(name)
            .ok_or_else(|| format!("no result for {name}"))?;
        if actual.len() != expected.len() {
            return Err(format!(
                "{name}: {} classes, expected {}",
                actual.len(),
                expected.len()
            ));
        }
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            // `f32::max` drops NaN: a non-finite value must fail, not score 0.
            if !a.is_finite() || !e.is_finite() {
                return Err(format!("{name}: class {i} is {a}, expected {e}"));
            }
            worst = worst.max((a - e).abs());
        }
    }
    if got.len() != want.len() {
        return Err(format!(
            "{} results for {} reference images",
            got.len(),
            want.len()
        ));
    }
    Ok(worst)
}

#[allow(dead_code)] // the CI test includes this file as a module and calls the functions above
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = root.join("crates/tandem-onnx/tests/fixtures/onnx-tiny");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (images, clip, onnx) = match args.as_slice() {
        [] => (
            root.join("examples/images"),
            root.join("crates/tandem-clip/tests/fixtures/clip-tiny-a"),
            fixtures.join("classifier.onnx"),
        ),
        [i, c, o] => (PathBuf::from(i), PathBuf::from(c), PathBuf::from(o)),
        _ => return Err("usage: onnx_cascade [IMAGES CLIP_DIR MODEL.onnx]".into()),
    };
    let out = run_cascade(&images, &clip, &onnx)?;
    for (name, probs) in &out.probs {
        let text: Vec<String> = probs.iter().map(|p| format!("{p:.4}")).collect();
        println!("{name}: [{}]", text.join(", "));
    }
    for e in &out.errors {
        eprintln!("failed: {e}");
    }
    if args.is_empty() {
        let diff = max_difference(&out.probs, &reference(&fixtures)?)?;
        println!("max |Rust - Python onnxruntime| = {diff:.2e} (tolerance 1e-4)");
        if diff > 1e-4 {
            return Err(format!("differs from the Python reference by {diff}").into());
        }
    }
    Ok(())
}
