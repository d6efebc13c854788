//! `examples/onnx_cascade.rs` end to end: CLIP image embeddings → ONNX classifier in one
//! pipeline, equal to Python onnxruntime on transformers' CLIP embeddings within 1e-4.

#[path = "../../../examples/onnx_cascade.rs"]
mod onnx_cascade;

use std::path::Path;

#[test]
fn onnx_cascade_matches_python_onnxruntime() {
    if let Err(e) = tandem_onnx::runtime::environment(None) {
        if std::env::var_os("CI").is_some() {
            panic!("ONNX Runtime must be available in CI ({e}); `cargo xtask ci` installs it");
        }
        eprintln!("SKIPPED onnx_cascade_matches_python_onnxruntime: {e}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = root.join("crates/tandem-onnx/tests/fixtures/onnx-tiny");
    let out = onnx_cascade::run_cascade(
        &root.join("examples/images"),
        &root.join("crates/tandem-clip/tests/fixtures/clip-tiny-a"),
        &fixtures.join("classifier.onnx"),
    )
    .expect("the cascade runs");
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let want = onnx_cascade::reference(&fixtures).expect("reference loads");
    assert_eq!(want.len(), 4);
    let diff = onnx_cascade::max_difference(&out.probs, &want).expect("same images");
    eprintln!("max |Rust - Python onnxruntime| = {diff:e}");
    assert!(diff <= 1e-4, "differs by {diff}");
    for probs in out.probs.values() {
        assert!(
            (probs.iter().sum::<f32>() - 1.0).abs() < 1e-5,
            "a softmax: {probs:?}"
        );
    }
}
