//! How far half precision moves the cascade's outputs from f32 (issue 13's quality report):
//! BLIP greedy captions and CLIP caption probabilities of the committed photos, computed in f32
//! and in bf16 / f16 (weights converted on load, activations stored in the dtype, arithmetic in
//! f32 as the CPU backend does), on the parity checkpoints and, when `cargo xtask bench
//! cascade` has written them, the full-size random ones.
//!
//! ```text
//! cargo run --release -p tandem-benches --bin bf16_quality
//! ```
//!
//! Prints, per checkpoint and dtype:
//! - BLIP (greedy, max length 30, min length 5, as `tandem caption --decoding greedy`):
//!   captions identical to f32's, and the mean share of f32's tokens the dtype reproduces
//!   before its first different token;
//! - CLIP (five fixed captions per photo, softmax over them): the largest absolute
//!   probability difference from f32 and how often the top caption is the same.
//!
//! These are measurements, not pass/fail checks; the parity checkpoints have random weights, so
//! near-tied tokens make caption agreement a pessimistic figure. Name the CPU and its flags
//! (`lscpu`) beside any figure you report: kernel choice (AVX2, AVX-512, gemm) changes
//! rounding.

use std::path::{Path, PathBuf};

use tandem_benches::workspace_root;
use tandem_blip::{BlipCaptioner, GenerationConfig};
use tandem_clip::ClipModel;
use tandem_image::{open_image, ImageOptions, RgbImage};
use tandem_tensor::{CpuBackend, DType};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const HALF: [DType; 2] = [DType::BF16, DType::F16];

const CAPTIONS: [&str; 5] = [
    "a photo of a cat",
    "an astronaut in a spacesuit",
    "a cup of coffee on a table",
    "a rocket on the launch pad",
    "a dog running on grass",
];

/// The committed photos, sorted by name.
fn photos() -> Result<Vec<(String, RgbImage)>> {
    tandem_benches::committed_photos()?
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or("?")
                .to_string();
            Ok((name, open_image(&p, ImageOptions::default())?))
        })
        .collect()
}

/// The checkpoint folders that exist: the parity fixtures, then the benchmark's full-size one.
fn checkpoints(fixtures: &str, tiny: &[&str], full: &str) -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = tiny.iter().map(|t| root.join(fixtures).join(t)).collect();
    let full = root.join("target/bench-models").join(full);
    if full.join("model.safetensors").is_file() {
        dirs.push(full);
    }
    dirs
}

fn short(dir: &Path) -> String {
    dir.file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("?")
        .to_string()
}

/// Greedy token ids per photo.
fn captions(dir: &Path, dtype: DType, images: &[&RgbImage]) -> Result<Vec<Vec<u32>>> {
    let model = BlipCaptioner::from_dir(dir, &CpuBackend, dtype)?;
    let cfg = GenerationConfig {
        max_length: 30,
        min_length: 5,
        ..GenerationConfig::default()
    };
    let keys: Vec<String> = (0..images.len()).map(|i| i.to_string()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = model.caption_images(images, &keys, &cfg)?;
    Ok(out
        .into_iter()
        .map(|per_image| {
            per_image
                .into_iter()
                .next()
                .map(|c| c.ids)
                .unwrap_or_default()
        })
        .collect())
}

/// Caption probabilities per photo, in `CAPTIONS` order.
fn probabilities(dir: &Path, dtype: DType, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
    let model = ClipModel::load(dir, &CpuBackend, dtype)?;
    images
        .iter()
        .map(|image| {
            let ranked = model.rank(image, &CAPTIONS)?;
            Ok(CAPTIONS
                .iter()
                .map(|c| {
                    ranked
                        .iter()
                        .find(|(text, _)| text == c)
                        .map_or(f32::NAN, |(_, p)| *p)
                })
                .collect())
        })
        .collect()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let photos = photos()?;
    let images: Vec<&RgbImage> = photos.iter().map(|(_, i)| i).collect();
    println!(
        "{} photos ({}), CPU backend, rayon pool of {} threads",
        photos.len(),
        photos
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        rayon::current_num_threads()
    );
    println!("BLIP greedy captions against f32");
    for dir in checkpoints(
        "crates/tandem-blip/tests/fixtures",
        &["blip-tiny-a", "blip-tiny-b"],
        "blip-image-captioning-base-random",
    ) {
        let reference = captions(&dir, DType::F32, &images)?;
        for dtype in HALF {
            let got = captions(&dir, dtype, &images)?;
            let same = got.iter().zip(&reference).filter(|(g, r)| g == r).count();
            let prefix: f64 = got
                .iter()
                .zip(&reference)
                .map(|(g, r)| {
                    let common = g.iter().zip(r).take_while(|(a, b)| a == b).count();
                    common as f64 / r.len().max(1) as f64
                })
                .sum::<f64>()
                / reference.len() as f64;
            println!(
                "  {:<36} {dtype:<5} identical {same}/{}  tokens before the first difference {:.0}%",
                short(&dir),
                reference.len(),
                100.0 * prefix
            );
        }
    }
    println!(
        "CLIP probabilities over {} captions against f32",
        CAPTIONS.len()
    );
    for dir in checkpoints(
        "crates/tandem-clip/tests/fixtures",
        &["clip-tiny-a", "clip-tiny-b"],
        "clip-vit-base-patch32-random",
    ) {
        let reference = probabilities(&dir, DType::F32, &images)?;
        for dtype in HALF {
            let got = probabilities(&dir, dtype, &images)?;
            let max_abs = got
                .iter()
                .flatten()
                .zip(reference.iter().flatten())
                .map(|(g, r)| f64::from((g - r).abs()))
                .fold(
                    0.0,
                    |m: f64, d| if d.is_nan() { f64::NAN } else { m.max(d) },
                );
            let top_same = got
                .iter()
                .zip(&reference)
                .filter(|(g, r)| argmax(g) == argmax(r))
                .count();
            println!(
                "  {:<36} {dtype:<5} max |p - p_f32| {max_abs:.2e}  same top caption {top_same}/{}",
                short(&dir),
                reference.len()
            );
        }
    }
    Ok(())
}
