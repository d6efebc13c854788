//! Shared by the generation unit tests: the tiny checkpoint of the parity tests and seeded
//! image embeddings.

use crate::model::{BlipCaptioner, BlipModel};
use tandem_tensor::{CpuBackend, DType, Tensor};

/// The parity tests' `blip-tiny-a` checkpoint in f32.
pub(crate) fn model() -> BlipModel<CpuBackend> {
    model_named("blip-tiny-a")
}

/// A checkpoint of `tests/fixtures` in f32.
pub(crate) fn model_named(name: &str) -> BlipModel<CpuBackend> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    BlipCaptioner::from_dir(dir, &CpuBackend, DType::F32)
        .expect("tiny checkpoint")
        .model
}

/// `n` images of 7 tokens of seeded values in [-1, 1).
pub(crate) fn embeds(model: &BlipModel<CpuBackend>, n: usize, seed: u64) -> Tensor<CpuBackend> {
    let dim = model.config.encoder_hidden_size();
    let mut state = seed;
    let values: Vec<f32> = (0..n * 7 * dim)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_slice(&CpuBackend, &values, &[n, 7, dim]).expect("embeds")
}

pub(crate) struct Request {
    pub(crate) embeds: Tensor<CpuBackend>,
    pub(crate) keys: Vec<String>,
}

impl Request {
    pub(crate) fn new(model: &BlipModel<CpuBackend>, n: usize, seed: u64) -> Self {
        Request {
            embeds: embeds(model, n, seed),
            keys: (0..n).map(|i| format!("req{seed}-img{i}")).collect(),
        }
    }
    pub(crate) fn keys(&self) -> Vec<&str> {
        self.keys.iter().map(String::as_str).collect()
    }
}
