//! BLIP captioning benchmark: the full-size blip-image-captioning-base configuration with random
//! weights, N sampled captions per image, max length 30, on the CPU (f32) or a CUDA GPU.
//!
//! `cargo run --release -p tandem-benches --bin blip_captioning -- [--images 3] [--captions 10]
//!  [--max-length 30] [--batch 1] [--preset base] [--torch] [--backend cpu|cuda] [--dtype f32|bf16|f16]`
//!
//! Prints seconds per image and generated tokens per second, one image per call (as PyTorch's
//! `generate`) and, with `--batch K`, K images per call. `--torch` also runs
//! `xtask/bench/blip_torch.py` with the workspace venv (2 threads) and prints the time ratio.
//! The random checkpoint is written once to `target/tmp/blip-random-<preset>.safetensors`.

use std::process::Command;
use std::time::Instant;
use tandem_benches::workspace_root;
use tandem_blip::random_checkpoint::write_random_checkpoint;
use tandem_blip::{generate_from_embeds, BlipConfig, BlipModel, GenerationConfig};
use tandem_nn::Weights;
use tandem_tensor::{Backend, CpuBackend, DType, Tensor};

struct Args {
    images: usize,
    captions: usize,
    max_length: usize,
    batch: usize,
    preset: String,
    torch: bool,
    backend: String,
    dtype: DType,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        images: 3,
        captions: 10,
        max_length: 30,
        batch: 1,
        preset: "base".into(),
        torch: false,
        backend: "cpu".into(),
        dtype: DType::F32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |s: String, name: &str| s.parse::<usize>().map_err(|e| format!("{name}: {e}"));
        match flag.as_str() {
            "--images" => a.images = num(value("--images")?, "--images")?,
            "--captions" => a.captions = num(value("--captions")?, "--captions")?,
            "--max-length" => a.max_length = num(value("--max-length")?, "--max-length")?,
            "--batch" => a.batch = num(value("--batch")?, "--batch")?,
            "--preset" => a.preset = value("--preset")?,
            "--torch" => a.torch = true,
            "--backend" => a.backend = value("--backend")?,
            "--dtype" => {
                a.dtype = match value("--dtype")?.as_str() {
                    "f32" => DType::F32,
                    "bf16" => DType::BF16,
                    "f16" => DType::F16,
                    other => return Err(format!("--dtype {other}: expected f32, bf16 or f16")),
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.images == 0 || a.batch == 0 {
        return Err("--images and --batch must be positive".into());
    }
    Ok(a)
}

/// Runs `images` images through the vision encoder and `generate_from_embeds` (what
/// `generate` does) in calls of `batch` images; returns (seconds, vision seconds, tokens).
fn time_run<B: Backend>(
    model: &BlipModel<B>,
    pixels: &Tensor<B>,
    batch: usize,
    cfg: &GenerationConfig,
    bos: u32,
) -> Result<(f64, f64, usize), Box<dyn std::error::Error>> {
    let images = pixels.dims()[0];
    let keys: Vec<String> = (0..images).map(|i| format!("image-{i}")).collect();
    let start = Instant::now();
    let mut vision = 0.0;
    let mut tokens = 0;
    let mut i = 0;
    while i < images {
        let n = batch.min(images - i);
        let k: Vec<&str> = keys[i..i + n].iter().map(String::as_str).collect();
        let t = Instant::now();
        let embeds = model
            .encode_images(&pixels.narrow(0, i, n)?)?
            .last_hidden_state;
        vision += t.elapsed().as_secs_f64();
        let out = generate_from_embeds(model, &embeds, &k, &[bos], cfg)?;
        tokens += out.iter().flatten().map(|s| s.len() - 1).sum::<usize>();
        i += n;
    }
    Ok((start.elapsed().as_secs_f64(), vision, tokens))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    match args.backend.as_str() {
        "cpu" => run(&args, &CpuBackend),
        "cuda" => run(&args, &tandem_cuda::CudaBackend::new(0)?),
        other => Err(format!("--backend {other}: expected cpu or cuda").into()),
    }
}

fn run<B: Backend>(args: &Args, backend: &B) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = BlipConfig::preset(&args.preset)?;
    let dir = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&dir)?;
    let ckpt = dir.join(format!("blip-random-{}.safetensors", args.preset));
    if !ckpt.is_file() {
        eprintln!("writing random checkpoint {}", ckpt.display());
        write_random_checkpoint(&cfg, &ckpt, 0, DType::F16)?;
    }
    let t0 = Instant::now();
    let model = BlipModel::from_weights(
        cfg.clone(),
        &Weights::from_file(&ckpt, backend, args.dtype)?,
    )?;
    eprintln!("loaded in {:.2} s", t0.elapsed().as_secs_f64());

    let s = cfg.vision_config.image_size;
    let n = args.images + 1;
    // Deterministic pseudo-random pixels in the normalised range.
    let px: Vec<f32> = (0..n * 3 * s * s)
        .map(|i| (((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let pixels = Tensor::from_slice(backend, &px, &[n, 3, s, s])?.to_dtype(args.dtype)?;
    let gen = GenerationConfig {
        do_sample: true,
        num_return_sequences: args.captions,
        max_length: args.max_length,
        seed: 1,
        ..Default::default()
    };
    let bos = cfg.text_config.bos_token_id;
    let timed = pixels.narrow(0, 1, args.images)?;
    time_run(&model, &pixels.narrow(0, 0, 1)?, 1, &gen, bos)?; // warm-up
    let (secs, vision, tokens) = time_run(&model, &timed, 1, &gen, bos)?;
    let per_image = secs / args.images as f64;
    println!(
        "tandem ({} {}, {} threads), {}: 1 image/call: {:.3} s/image (vision {:.3} s, decoding {:.3} s), {:.1} tokens/s ({tokens} tokens, {} images, {} captions each)",
        backend.name(),
        args.dtype,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.preset,
        per_image,
        vision / args.images as f64,
        (secs - vision) / args.images as f64,
        tokens as f64 / secs,
        args.images,
        args.captions
    );
    if args.batch > 1 {
        let (bsecs, bvision, btokens) = time_run(&model, &timed, args.batch, &gen, bos)?;
        println!(
            "tandem, {} images/call: {:.3} s/image (vision {:.3} s), {:.1} tokens/s ({btokens} tokens)",
            args.batch,
            bsecs / args.images as f64,
            bvision / args.images as f64,
            btokens as f64 / bsecs
        );
    }
    if args.torch {
        // Same conditions for both sides: the PyTorch run follows immediately.
        let root = workspace_root();
        let out = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("xtask/bench/blip_torch.py"))
            .args(["--json", "--threads", "2", "--preset", &args.preset])
            .args([
                "--images",
                &args.images.to_string(),
                "--captions",
                &args.captions.to_string(),
            ])
            .args(["--max-length", &args.max_length.to_string()])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "blip_torch.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim().lines().last().unwrap_or(""))?;
        let torch_s = v["seconds_per_image"].as_f64().unwrap_or(f64::NAN);
        println!(
            "pytorch {} (2 threads): {:.3} s/image, {:.1} tokens/s",
            v["torch"].as_str().unwrap_or("?"),
            torch_s,
            v["tokens_per_second"].as_f64().unwrap_or(f64::NAN)
        );
        println!(
            "ratio tandem/pytorch (1 image/call): {:.3}",
            per_image / torch_s
        );
    }
    Ok(())
}
