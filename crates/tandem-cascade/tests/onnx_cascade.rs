//! `examples/onnx_cascade.rs` end to end: CLIP image embeddings → ONNX classifier in one
//! pipeline, equal to Python onnxruntime on transformers' CLIP embeddings within 1e-4.

#[path = "../../../examples/onnx_cascade.rs"]
mod onnx_cascade;

use std::path::Path;
use tandem_tensor_testing::{assert_close_slices, assert_row_sums, Close};

#[test]
fn onnx_cascade_matches_python_onnxruntime() {
    // A test that cannot run fails naming the fix; it never passes as `ok` without running.
    if let Err(e) = tandem_onnx::runtime::environment(None) {
        panic!(
            "onnx_cascade_matches_python_onnxruntime: ONNX Runtime is not available ({e}); \
             install it with `cargo xtask ci` (which sets ORT_DYLIB_PATH), point ORT_DYLIB_PATH \
             at libonnxruntime.so, or leave this test out with `--skip onnx_cascade`"
        );
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
    // Same images, then every class of every image: the pipeline's probabilities against
    // Python onnxruntime's on transformers' embeddings. The embeddings agree to 1e-4 (see the
    // CLIP parity tests) and a 3-class softmax of a linear layer moves by at most that much.
    assert_eq!(
        out.probs.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same images"
    );
    for (image, expected) in &want {
        let got = &out.probs[image];
        let r = assert_close_slices(image, got, expected, Close::abs(1e-4));
        eprintln!("{image}: {r}");
        assert_row_sums(image, &[1, got.len()], got, 1e-5);
    }
}
