//! Fixture access for the parity tests. The fixtures are written by `cargo xtask fixtures`
//! from `transformers` (see `tests/fixtures/<config>/README.md`); `TANDEM_BLIP_FIXTURES`
//! points the tests at another copy of them.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use tandem_nn::SafetensorsFile;

pub const CONFIGS: [&str; 2] = ["blip-tiny-a", "blip-tiny-b"];

pub struct Fixture {
    pub dir: PathBuf,
    pub info: Value,
    pub reference: SafetensorsFile,
}

pub fn fixture(name: &str) -> Fixture {
    let root = std::env::var_os("TANDEM_BLIP_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join("fixtures")
        });
    let dir = root.join(name);
    let info_path = dir.join("reference.json");
    let text = std::fs::read_to_string(&info_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask fixtures`)", info_path.display()));
    let info: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", info_path.display()));
    let reference =
        SafetensorsFile::open(dir.join("reference.safetensors")).unwrap_or_else(|e| panic!("{e}"));
    Fixture {
        dir,
        info,
        reference,
    }
}

impl Fixture {
    /// A reference tensor as (shape, f32 values).
    pub fn tensor(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let entry = self
            .reference
            .entry(name)
            .unwrap_or_else(|| panic!("reference tensor `{name}` missing"));
        (
            entry.shape,
            self.reference
                .read_f32(name)
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        )
    }

    pub fn ids(value: &Value) -> Vec<u32> {
        value
            .as_array()
            .expect("id list")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect()
    }

    pub fn images(&self) -> Vec<String> {
        self.info["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|v| v.as_str().expect("name").to_string())
            .collect()
    }
}
