//! Shared by the integration tests: the fixture folder, its references, and the runtime check.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use safetensors::{Dtype, SafeTensors};
use tandem_handler::{
    BatchConfig, DeadLetter, EngineOptions, InferenceEngine, ManualClock, ModelHandler,
    ModelManager, ModelStats, PredictionResult,
};
use tandem_onnx::{runtime, OnnxError, OnnxModelHandler};

/// `crates/tandem-onnx/tests/fixtures/onnx-tiny`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx-tiny")
}

/// Fails the test naming the fix when ONNX Runtime does not load (a test that cannot run never
/// passes as `ok`): `cargo xtask ci` installs it and sets `ORT_DYLIB_PATH`.
#[track_caller]
pub fn require_runtime(test: &str) {
    match runtime::environment(None) {
        Ok(_) => {}
        Err(e @ OnnxError::Library { .. }) => panic!(
            "{test}: ONNX Runtime is not available ({e}); install it with `cargo xtask ci` (which \
             sets ORT_DYLIB_PATH), point ORT_DYLIB_PATH at libonnxruntime.so, or leave the ONNX \
             tests out with `--skip`"
        ),
        Err(e) => panic!("{test}: ONNX Runtime loaded but failed: {e}"),
    }
}

/// A reference tensor as f32 or i64 values with its shape.
pub struct Reference {
    bytes: Vec<u8>,
}

impl Reference {
    pub fn load() -> Reference {
        let path = fixtures().join("reference.safetensors");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Reference { bytes }
    }

    fn view(&self, name: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("reference.safetensors parses");
        let t = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("reference `{name}`: {e}"));
        (t.shape().to_vec(), t.dtype(), t.data().to_vec())
    }

    /// Rows of an f32 `[n, d]` tensor.
    pub fn f32_rows(&self, name: &str) -> Vec<Vec<f32>> {
        let (shape, dtype, data) = self.view(name);
        assert_eq!(dtype, Dtype::F32, "{name}");
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        values.chunks(shape[1]).map(<[f32]>::to_vec).collect()
    }

    /// Rows of an i64 `[n, d]` tensor.
    pub fn i64_rows(&self, name: &str) -> Vec<Vec<i64>> {
        let (shape, dtype, data) = self.view(name);
        assert_eq!(dtype, Dtype::I64, "{name}");
        let values: Vec<i64> = data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        values.chunks(shape[1]).map(<[i64]>::to_vec).collect()
    }
}

/// A handler for the fixture `file` with one intra-op thread and `max_batch_size`.
pub fn handler(file: &str, max_batch_size: usize) -> OnnxModelHandler {
    OnnxModelHandler::new(fixtures().join(file))
        .with_session_config(tandem_onnx::SessionConfig {
            intra_threads: Some(1),
            inter_threads: Some(1),
            ..Default::default()
        })
        .with_batch_config(BatchConfig {
            max_batch_size,
            ..Default::default()
        })
}

type Outcome<H> = (
    Vec<PredictionResult<<H as ModelHandler>::Example, <H as ModelHandler>::Prediction>>,
    Vec<DeadLetter<<H as ModelHandler>::Example>>,
);

/// Pushes every example through an engine (manual clock, private model registry) and flushes;
/// returns results and dead letters, and the engine's counters.
pub fn run_engine<H: ModelHandler<Args = ()>>(
    handler: H,
    examples: Vec<H::Example>,
) -> (Outcome<H>, ModelStats) {
    let options = EngineOptions::new("test")
        .with_clock(Arc::new(ManualClock::new()))
        .with_manager(Arc::new(ModelManager::new()));
    let metrics = options.metrics.clone();
    let mut engine = InferenceEngine::new(Arc::new(handler), (), options).expect("valid config");
    let mut results = Vec::new();
    let mut dead = Vec::new();
    for e in examples {
        engine.push(e).drain_into(&mut results, &mut dead);
    }
    engine.flush().drain_into(&mut results, &mut dead);
    let report = metrics.report();
    let stats = report
        .models
        .first()
        .map(|m| m.stats.clone())
        .expect("the engine recorded metrics");
    ((results, dead), stats)
}
