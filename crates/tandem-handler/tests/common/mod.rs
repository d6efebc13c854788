//! What the integration tests share: the toy linear handler of `tandem_handler::testing`
//! (`y = w·x + b`, weights in safetensors files the tests write), a temporary directory and
//! engine options with a manual clock.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

#[allow(unused_imports)] // Not every test binary writes weights.
pub use tandem_handler::testing::write_weights;
use tandem_handler::ManualClock;

/// The toy handler without `inference_args`.
pub type Linear = tandem_handler::testing::Linear<()>;

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-handler-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Engine options with the manual clock and a private model registry (tests run in parallel).
pub fn options(step: &str, clock: &ManualClock) -> tandem_handler::EngineOptions {
    tandem_handler::EngineOptions::new(step)
        .with_clock(Arc::new(clock.clone()))
        .with_manager(Arc::new(tandem_handler::ModelManager::new()))
}

/// `[x, 0, 0, 0]`.
pub fn ex(x: f32) -> Vec<f32> {
    vec![x, 0.0, 0.0, 0.0]
}
