//! The whole BLIP → CLIP cascade as users run it: `tandem caption` on the committed photos with
//! full-size random checkpoints (`blip-image-captioning-base`, `clip-vit-base-patch32`
//! architectures; random weights cost what trained ones cost), on each runner configuration,
//! timed from process start to exit (model loading included).
//!
//! ```text
//! cargo build --release -p tandem-cli -p tandem-benches
//! target/release/cascade [--tandem target/release/tandem] [--images 8] [--captions 10]
//!     [--max-length 30] [--dtype f32|bf16|f16] [--runs local,timely-1x2,launch-2x1]
//!     [--python .venv/bin/python | --no-torch]
//! ```
//!
//! Runs (threads = the CPU backend's compute threads, `--threads`):
//! - `local`: the local runner, 1 process × 2 threads;
//! - `timely-1x2`: timely, 1 process, 1 worker × 2 threads;
//! - `launch-2x1`: timely over 2 processes (`tandem launch -n 2`), 1 worker × 1 thread each.
//!
//! Prints seconds per image for each run (wall time from process start to exit, so model
//! loading is included), its ratio to `local`, the seconds per image spent inside
//! `run_inference` calls (the summaries' `model calls:` lines, summed over the processes and
//! divided by their number, as the processes run side by side), and the framework overhead:
//! wall time minus model-call time, per image (model loading, reading and decoding images,
//! batching, joining, writing). Where the BLIP and CLIP steps call their models at the same
//! time (they run on different threads) the overhead is underestimated, so it is a lower
//! bound.
//!
//! **transformers side by side.** When the fixture script's venv exists (`.venv`, made by
//! `cargo xtask fixtures`; or `--python`), the same job runs in transformers right after, in the
//! same dtype and with the same threads: `xtask/bench/cascade_torch.py` (BLIP `generate` with
//! the sampling settings `tandem caption` uses, then CLIP's softmax over the captions). It
//! prints its load time and run time and the ratios `tandem local / transformers`, both with
//! model loading included on each side and against transformers without its loading (the
//! stricter figure, as issue 13's table reports it).
//!
//! The checkpoints are written once under `target/bench-models/`; tokenizer files come from
//! the tiny test fixtures, which use the real vocabularies.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tandem_benches::workspace_root;

use serde_json::{json, Value};
use tandem_blip::random_checkpoint::write_random_checkpoint as write_random_blip;
use tandem_blip::BlipConfig;
use tandem_clip::{write_random_checkpoint as write_random_clip, ClipConfig};
use tandem_tensor::DType;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Args {
    tandem: PathBuf,
    images: usize,
    captions: usize,
    max_length: usize,
    dtype: String,
    runs: Vec<String>,
    /// The venv interpreter for the transformers run (`None`: skip it).
    python: Option<PathBuf>,
}

fn parse() -> Result<Args> {
    let mut a = Args {
        tandem: workspace_root().join("target/release/tandem"),
        images: 8,
        captions: 10,
        max_length: 30,
        dtype: "f32".into(),
        runs: ["local", "timely-1x2", "launch-2x1"]
            .map(String::from)
            .to_vec(),
        python: Some(workspace_root().join(".venv/bin/python")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tandem" => a.tandem = PathBuf::from(value()?),
            "--images" => a.images = value()?.parse()?,
            "--captions" => a.captions = value()?.parse()?,
            "--max-length" => a.max_length = value()?.parse()?,
            "--dtype" => a.dtype = value()?,
            "--runs" => a.runs = value()?.split(',').map(String::from).collect(),
            "--python" => a.python = Some(PathBuf::from(value()?)),
            "--no-torch" => a.python = None,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !a.tandem.is_file() {
        return Err(format!(
            "{} does not exist: build it first (cargo build --release -p tandem-cli)",
            a.tandem.display()
        )
        .into());
    }
    Ok(a)
}

/// Copies the tokenizer and preprocessor files of a tiny fixture into `dir`.
fn copy_tokenizer(fixture: &str, dir: &Path) -> Result<()> {
    let src = workspace_root().join(fixture);
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("tokenizer") || name == "special_tokens_map.json" || name == "vocab.txt"
        {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    Ok(())
}

/// `fixture`'s `preprocessor_config.json` with every size set to `side`.
fn write_preprocessor(fixture: &str, dir: &Path, side: usize) -> Result<()> {
    let src = workspace_root()
        .join(fixture)
        .join("preprocessor_config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(src)?)?;
    for key in ["size", "crop_size"] {
        if let Some(obj) = cfg.get_mut(key).and_then(Value::as_object_mut) {
            for v in obj.values_mut() {
                *v = json!(side);
            }
        }
    }
    std::fs::write(
        dir.join("preprocessor_config.json"),
        serde_json::to_string_pretty(&cfg)?,
    )?;
    Ok(())
}

/// The BLIP base checkpoint folder in HF layout (written once).
fn blip_base(root: &Path) -> Result<PathBuf> {
    let dir = root.join("blip-image-captioning-base-random");
    if dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    let fixture = "crates/tandem-blip/tests/fixtures/blip-tiny-a";
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(
        workspace_root().join(fixture).join("config.json"),
    )?)?;
    let base = BlipConfig::base();
    let (v, t) = (&base.vision_config, &base.text_config);
    cfg["vision_config"]["hidden_size"] = json!(v.hidden_size);
    cfg["vision_config"]["intermediate_size"] = json!(v.intermediate_size);
    cfg["vision_config"]["num_hidden_layers"] = json!(v.num_hidden_layers);
    cfg["vision_config"]["num_attention_heads"] = json!(v.num_attention_heads);
    cfg["vision_config"]["image_size"] = json!(v.image_size);
    cfg["vision_config"]["patch_size"] = json!(v.patch_size);
    cfg["vision_config"]["initializer_range"] = json!(0.02);
    cfg["text_config"]["hidden_size"] = json!(t.hidden_size);
    cfg["text_config"]["intermediate_size"] = json!(t.intermediate_size);
    cfg["text_config"]["num_hidden_layers"] = json!(t.num_hidden_layers);
    cfg["text_config"]["num_attention_heads"] = json!(t.num_attention_heads);
    cfg["text_config"]["encoder_hidden_size"] = json!(v.hidden_size);
    cfg["text_config"]["max_position_embeddings"] = json!(t.max_position_embeddings);
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
    let written: BlipConfig = serde_json::from_value(cfg)?;
    eprintln!("writing {}", dir.display());
    write_random_blip(&written, &dir.join("model.safetensors"), 0, DType::F32)?;
    copy_tokenizer(fixture, &dir)?;
    write_preprocessor(fixture, &dir, v.image_size)?;
    Ok(dir)
}

/// The CLIP ViT-B/32 checkpoint folder in HF layout (written once).
fn clip_b32(root: &Path) -> Result<PathBuf> {
    let dir = root.join("clip-vit-base-patch32-random");
    if dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    let fixture = "crates/tandem-clip/tests/fixtures/clip-tiny-a";
    let cfg = ClipConfig::vit_b_32();
    eprintln!("writing {}", dir.display());
    write_random_clip(&dir, &cfg, DType::F32, 0)?;
    copy_tokenizer(fixture, &dir)?;
    write_preprocessor(fixture, &dir, cfg.vision_config.image_size)?;
    Ok(dir)
}

/// `n` image paths: the committed photos, repeated under new names (each a distinct key).
fn photos(root: &Path, n: usize) -> Result<Vec<String>> {
    let originals = tandem_benches::committed_photos()?;
    let dir = root.join("photos");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let from = &originals[i % originals.len()];
        let name = format!(
            "{i:02}-{}",
            from.file_name().and_then(|f| f.to_str()).unwrap_or("photo")
        );
        let to = dir.join(name);
        if !to.is_file() {
            std::fs::copy(from, &to)?;
        }
        out.push(to.display().to_string());
    }
    Ok(out)
}

/// One run's measurements.
struct Measured {
    wall: f64,
    /// Seconds inside model calls, per process.
    model_calls: Option<f64>,
}

/// Seconds inside `run_inference` calls per process: the sum of every summary's
/// `model calls: <step> <secs>s in <n> calls; ...` line, over the number of such lines.
fn model_calls(stderr: &str) -> Option<f64> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("model calls:"))
        .collect();
    let total: f64 = lines
        .iter()
        .flat_map(|l| l.split(';'))
        .filter_map(|entry| entry.split_whitespace().nth(1))
        .filter_map(|t| t.trim_end_matches('s').parse::<f64>().ok())
        .sum();
    (!lines.is_empty()).then(|| total / lines.len() as f64)
}

fn run(args: &Args, run: &str, common: &[String], scratch: &Path) -> Result<Measured> {
    let out = scratch.join(format!("{run}.jsonl"));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new(&args.tandem);
    let threads = match run {
        "local" => {
            cmd.arg("caption");
            "2"
        }
        "timely-1x2" => {
            cmd.args(["caption", "--runner", "timely", "-w", "1"]);
            "2"
        }
        "launch-2x1" => {
            cmd.args(["launch", "-n", "2", "caption", "-w", "1"]);
            "1"
        }
        other => return Err(format!("unknown run {other}").into()),
    };
    cmd.args(common)
        .args(["--threads", threads, "--out"])
        .arg(&out);
    let t0 = Instant::now();
    let output = cmd.output()?;
    let wall = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{run} failed ({}): {stderr}", output.status).into());
    }
    let lines = std::fs::read_to_string(&out)?.lines().count();
    if lines != args.images {
        return Err(format!("{run}: {lines} results for {} images", args.images).into());
    }
    Ok(Measured {
        wall,
        model_calls: model_calls(&stderr),
    })
}

/// Reads every file of the checkpoint directories once, so that no timed run (ours or
/// transformers') pays for reading them from disk: right after a build they had often been
/// evicted from the page cache (on a 2-core VM a run with a dropped page cache took 1.15x a
/// warm one, and the first f32 run after a build up to 1.4x the next).
fn warm_page_cache(dirs: &[&Path]) -> Result<()> {
    for dir in dirs {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_file() {
                std::io::copy(&mut std::fs::File::open(&path)?, &mut std::io::sink())?;
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse()?;
    let root = workspace_root().join("target/bench-models");
    let blip = blip_base(&root)?;
    let clip = clip_b32(&root)?;
    let image_paths = photos(&root, args.images)?;
    warm_page_cache(&[&blip, &clip])?;
    let scratch = root.join("runs");
    std::fs::create_dir_all(&scratch)?;
    let mut common: Vec<String> = image_paths.clone();
    common.extend(
        [
            "--blip-model",
            &blip.display().to_string(),
            "--clip-model",
            &clip.display().to_string(),
            "-n",
            &args.captions.to_string(),
            "--max-length",
            &args.max_length.to_string(),
            "--dtype",
            &args.dtype,
            "--seed",
            "1",
            "-q",
            "--no-progress",
        ]
        .map(String::from),
    );
    println!(
        "cascade: {} images, {} sampled captions each, max length {}, {}, {}",
        args.images,
        args.captions,
        args.max_length,
        args.dtype,
        args.tandem.display()
    );
    let mut measured = Vec::with_capacity(args.runs.len());
    for r in &args.runs {
        measured.push((r.as_str(), run(&args, r, &common, &scratch)?));
    }
    // Ratios against the first `local` run (or the first run when `local` was not asked for).
    let per_image = |m: &Measured| m.wall / args.images as f64;
    let (base_name, base) = measured
        .iter()
        .find(|(r, _)| *r == "local")
        .or(measured.first())
        .map(|(r, m)| (*r, per_image(m)))
        .ok_or("no runs given")?;
    let images = args.images as f64;
    for (r, m) in &measured {
        let (calls, overhead) = match m.model_calls {
            Some(secs) => (
                format!("{:.3}", secs / images),
                format!("{:.3}", (m.wall - secs) / images),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{r:<12} {:>8.3} s/image  {:>5.2}x {base_name}  model calls {calls} s/image  \
             overhead {overhead} s/image",
            per_image(m),
            per_image(m) / base,
        );
    }
    match args.python.as_deref() {
        Some(python) if python.is_file() => {
            let t = transformers(&args, python, &blip, &clip, &image_paths)?;
            let (with_load, without_load) = ((t.load_s + t.run_s) / images, t.run_s / images);
            println!(
                "transformers {:>8.3} s/image with loading ({:.3} without; load {:.1} s)  \
                 torch {}, transformers {}, {} threads",
                with_load, without_load, t.load_s, t.torch, t.transformers, t.threads
            );
            println!(
                "{base_name} / transformers: {:.2} (both with loading), {:.2} (against \
                 transformers without loading)",
                base / with_load,
                base / without_load
            );
        }
        Some(python) => println!(
            "transformers: skipped ({} not found; `cargo xtask fixtures` creates the venv, or \
             pass --python)",
            python.display()
        ),
        None => {}
    }
    Ok(())
}

/// What `cascade_torch.py` measured.
struct Transformers {
    load_s: f64,
    run_s: f64,
    torch: String,
    transformers: String,
    threads: u64,
}

/// Runs the same job in transformers (`xtask/bench/cascade_torch.py`), same dtype, 2 threads.
fn transformers(
    args: &Args,
    python: &Path,
    blip: &Path,
    clip: &Path,
    images: &[String],
) -> Result<Transformers> {
    let script = workspace_root().join("xtask/bench/cascade_torch.py");
    let out = Command::new(python)
        .arg(&script)
        .arg("--blip")
        .arg(blip)
        .arg("--clip")
        .arg(clip)
        .args(["--dtype", &args.dtype, "--threads", "2"])
        .args(["--captions", &args.captions.to_string()])
        .args(["--max-length", &args.max_length.to_string()])
        .args(images)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.trim().lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("{}: unreadable result {line:?}: {e}", script.display()))?;
    let number = |key: &str| {
        v[key]
            .as_f64()
            .ok_or_else(|| format!("{}: no number `{key}` in {line}", script.display()))
    };
    Ok(Transformers {
        load_s: number("load_s")?,
        run_s: number("run_s")?,
        torch: v["torch"].as_str().unwrap_or("?").to_string(),
        transformers: v["transformers"].as_str().unwrap_or("?").to_string(),
        threads: v["threads"].as_u64().unwrap_or(0),
    })
}
