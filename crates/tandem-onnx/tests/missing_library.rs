//! Without ONNX Runtime, loading fails with an error that says how to install it (no panic).
//! Its own test binary: a process keeps the first library it loads, so this must run where
//! nothing loaded one yet.

use tandem_handler::{HandlerError, ModelHandler};
use tandem_onnx::OnnxModelHandler;

#[test]
fn missing_library_is_a_load_error_naming_the_fix() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx-tiny/classifier.onnx");
    let handler = OnnxModelHandler::new(model).with_library("/nonexistent/dir/libonnxruntime.so");
    match handler.load_model() {
        Err(HandlerError::Load { reason, .. }) => {
            assert!(
                reason.contains("/nonexistent/dir/libonnxruntime.so"),
                "{reason}"
            );
            assert!(reason.contains("does not exist"), "{reason}");
            assert!(reason.contains("pip install onnxruntime"), "{reason}");
            assert!(reason.contains("ORT_DYLIB_PATH"), "{reason}");
        }
        Err(other) => panic!("expected a load error, got {other}"),
        Ok(_) => panic!("loaded ONNX Runtime from a path that does not exist"),
    }
}
