//! Bad examples become dead letters that name the input, and their batch-mates are served.

mod common;

use common::{handler, require_runtime, run_engine, Reference};
use tandem_handler::HandlerError;
use tandem_onnx::{NamedTensors, TensorData, TensorValue};
use tandem_tensor_testing::{assert_close_slices, Close};

fn reason(error: &HandlerError) -> String {
    error.to_string()
}

#[test]
fn wrong_shaped_input_is_dead_lettered_naming_the_input() {
    require_runtime("wrong_shaped_input_is_dead_lettered_naming_the_input");
    let reference = Reference::load();
    let rows = reference.f32_rows("classifier_input");
    let expected = reference.f32_rows("classifier_probs");
    let mut examples: Vec<NamedTensors> = rows
        .iter()
        .map(|r| NamedTensors::new().with("image_embeds", TensorValue::vector_f32(r.clone())))
        .collect();
    // Example 2 has 11 values instead of 12.
    examples[2] = NamedTensors::new().with("image_embeds", TensorValue::vector_f32(vec![0.5; 11]));

    let ((results, dead), stats) = run_engine(handler("classifier.onnx", 8), examples);
    assert_eq!(dead.len(), 1, "exactly the bad example is dead-lettered");
    let text = reason(&dead[0].error);
    assert!(text.contains("`image_embeds`"), "names the input: {text}");
    assert!(
        text.contains("[11]") && text.contains("[12]"),
        "says got and expected: {text}"
    );
    assert_eq!(
        dead[0].example.get("image_embeds").map(TensorValue::shape),
        Some(&[11][..])
    );
    // The six good ones were served, equal to onnxruntime.
    assert_eq!(results.len(), 6);
    for r in &results {
        let input = r
            .example
            .get("image_embeds")
            .and_then(TensorValue::as_f32)
            .expect("f32");
        let i = rows
            .iter()
            .position(|row| row == input)
            .expect("a reference row");
        let got = r
            .inference
            .get("probs")
            .and_then(TensorValue::as_f32)
            .expect("probs");
        assert_close_slices(
            &format!("row {i} probs"),
            got,
            &expected[i],
            Close::abs(1e-6),
        );
    }
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(stats.inferences, 6);
    assert!(stats.failed_batches >= 1);
}

#[test]
fn missing_unknown_and_mistyped_inputs_are_named() {
    require_runtime("missing_unknown_and_mistyped_inputs_are_named");
    let good = || {
        NamedTensors::new()
            .with("features", TensorValue::vector_f32(vec![1.0; 4]))
            .with("ids", TensorValue::vector_i64(vec![1, 2, 3]))
    };
    let missing = NamedTensors::new().with("features", TensorValue::vector_f32(vec![1.0; 4]));
    let unknown = good().with("mask", TensorValue::vector_i64(vec![1]));
    let mistyped = good().with(
        "ids",
        TensorValue::new("ids", vec![3], TensorData::F32(vec![1.0, 2.0, 3.0])).expect("3 values"),
    );
    let examples = vec![good(), missing, unknown, mistyped, good()];
    let ((results, dead), _) = run_engine(handler("two_in_two_out.onnx", 8), examples);
    assert_eq!(results.len(), 2);
    let texts: Vec<String> = dead.iter().map(|d| reason(&d.error)).collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(
        texts.iter().any(|t| t.contains("no input `ids`")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("input `mask` the model does not have")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("input `ids` holds float32, the model expects int64")),
        "{texts:#?}"
    );
}
