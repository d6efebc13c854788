//! The NVRTC library for the CUDA kernel compile check (`tandem-cuda/tests/kernels_compile.rs`),
//! which needs no GPU: NVIDIA ships `libnvrtc` on PyPI. Downloaded once into `.cache/wheels`,
//! checked against a pinned hash, and its `lib/` unpacked into `.cache/nvrtc`.
//!
//! The version is pinned to the CUDA 12.9 bindings `tandem-cuda` builds cudarc with
//! (`cuda-12090` in the root Cargo.toml): bump both together.

use crate::util::{self, project_root, sha256_hex};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

const REQUIREMENT: &str = "nvidia-cuda-nvrtc-cu12==12.9.86";
const WHEEL: &str =
    "nvidia_cuda_nvrtc_cu12-12.9.86-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl";
const SHA256: &str = "210cf05005a447e29214e9ce50851e83fc5f4358df8b453155d5e1918094dcb4";

/// Fetches (once) and unpacks NVRTC; returns the path of `libnvrtc.so.12`.
pub fn fetch() -> Result<PathBuf> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        bail!("the pinned NVRTC wheel is for x86_64 Linux; run the tests with `-- --skip kernels_compile` to leave the CUDA compile check out here");
    }
    let cache = project_root().join(".cache");
    let wheels = cache.join("wheels");
    let wheel = wheels.join(WHEEL);
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
                REQUIREMENT,
            ],
        )
        .context("fetching NVRTC from PyPI (needed by the CUDA kernel compile check)")?;
    }
    let digest = sha256_hex(&wheel)?;
    if digest != SHA256 {
        bail!(
            "{} has sha256 {digest}, expected {SHA256}; delete it and retry",
            wheel.display()
        );
    }
    let target = cache.join("nvrtc");
    let lib = target
        .join("nvidia")
        .join("cuda_nvrtc")
        .join("lib")
        .join("libnvrtc.so.12");
    if !lib.exists() {
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith('nvidia/cuda_nvrtc/lib/')])";
        let (w, t) = (
            wheel.to_string_lossy().into_owned(),
            target.to_string_lossy().into_owned(),
        );
        util::run("python3", &["-c", script, &w, &t])?;
    }
    Ok(lib)
}
