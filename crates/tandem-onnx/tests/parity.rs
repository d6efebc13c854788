//! The handler's outputs equal Python onnxruntime's (`reference.safetensors`, written by
//! `xtask/fixtures/onnx_fixtures.py`) within 1e-6, batched and unbatched, through the engine.

mod common;

use common::{handler, require_runtime, run_engine, Reference};
use tandem_onnx::{BatchAxis, DType, NamedTensors, TensorData, TensorValue};
use tandem_tensor_testing::{assert_close_slices, assert_row_sums, Close};

/// The same ONNX graph on the same ONNX Runtime as the Python reference: the only difference
/// is the batch the rows run in (kernel blocking), a few f32 ulps of values below 1.
const TOLERANCE: Close = Close::abs(1e-6);

fn classifier_examples(reference: &Reference) -> Vec<NamedTensors> {
    reference
        .f32_rows("classifier_input")
        .into_iter()
        .map(|row| NamedTensors::new().with("image_embeds", TensorValue::vector_f32(row)))
        .collect()
}

/// Runs `file` over the classifier inputs with `max_batch_size`; checks every `probs` row and
/// returns how many `run_inference` calls the engine made.
fn check_classifier(file: &str, max_batch_size: usize) -> u64 {
    let reference = Reference::load();
    let expected = reference.f32_rows("classifier_probs");
    let examples = classifier_examples(&reference);
    let ((results, dead), stats) = run_engine(handler(file, max_batch_size), examples.clone());
    assert!(dead.is_empty(), "dead letters: {dead:?}");
    assert_eq!(results.len(), expected.len());
    for (i, (r, want)) in results.iter().zip(&expected).enumerate() {
        assert_eq!(r.example, examples[i], "results come back in input order");
        let probs = r.inference.get("probs").expect("output `probs`");
        assert_eq!(probs.shape(), &[3]);
        let got = probs.as_f32().expect("f32 output");
        assert_close_slices(
            &format!("{file} batch {max_batch_size}: row {i} probs"),
            got,
            want,
            TOLERANCE,
        );
        assert_row_sums(&format!("{file} row {i}"), &[1, got.len()], got, 1e-6);
    }
    stats.batches
}

#[test]
fn classifier_batched_matches_onnxruntime() {
    require_runtime("classifier_batched_matches_onnxruntime");
    // 7 rows in batches of at most 4: one run of 4, one of 3.
    assert_eq!(check_classifier("classifier.onnx", 4), 2);
}

#[test]
fn classifier_unbatched_matches_onnxruntime() {
    require_runtime("classifier_unbatched_matches_onnxruntime");
    assert_eq!(check_classifier("classifier.onnx", 1), 7);
}

#[test]
fn fixed_batch_of_one_model_runs_each_example_alone() {
    require_runtime("fixed_batch_of_one_model_runs_each_example_alone");
    let model = handler("classifier_batch1.onnx", 4).load().expect("loads");
    assert_eq!(model.signature().batch_axis, BatchAxis::FixedOne);
    // The engine still hands it batches of 4; the handler runs them one at a time.
    assert_eq!(check_classifier("classifier_batch1.onnx", 4), 2);
}

#[test]
fn signature_comes_from_the_model_metadata() {
    require_runtime("signature_comes_from_the_model_metadata");
    let model = handler("two_in_two_out.onnx", 4).load().expect("loads");
    let sig = model.signature();
    let names = |specs: &[tandem_onnx::TensorSpec]| {
        specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&sig.inputs), ["features", "ids"]);
    assert_eq!(names(&sig.outputs), ["projected", "ids_doubled"]);
    assert_eq!(sig.inputs[0].dtype, DType::F32);
    assert_eq!(sig.inputs[1].dtype, DType::I64);
    assert_eq!(sig.inputs[1].dims, vec![None, Some(3)]);
    assert_eq!(sig.batch_axis, BatchAxis::Dynamic);
}

#[test]
fn two_inputs_two_outputs_match_onnxruntime() {
    require_runtime("two_inputs_two_outputs_match_onnxruntime");
    let reference = Reference::load();
    let features = reference.f32_rows("two_features");
    let ids = reference.i64_rows("two_ids");
    let projected = reference.f32_rows("two_projected");
    let doubled = reference.i64_rows("two_ids_doubled");
    // Inputs given in the opposite order of the graph's: names, not positions, decide.
    let examples: Vec<NamedTensors> = features
        .iter()
        .zip(&ids)
        .map(|(f, i)| {
            NamedTensors::new()
                .with("ids", TensorValue::vector_i64(i.clone()))
                .with("features", TensorValue::vector_f32(f.clone()))
        })
        .collect();
    for max_batch_size in [1, 2, 8] {
        let ((results, dead), _) = run_engine(
            handler("two_in_two_out.onnx", max_batch_size),
            examples.clone(),
        );
        assert!(dead.is_empty(), "dead letters: {dead:?}");
        assert_eq!(results.len(), 5);
        for (i, r) in results.iter().enumerate() {
            let p = r
                .inference
                .get("projected")
                .and_then(TensorValue::as_f32)
                .expect("f32 `projected`");
            assert_close_slices(
                &format!("batch {max_batch_size}, row {i}: `projected`"),
                p,
                &projected[i],
                TOLERANCE,
            );
            let d = r.inference.get("ids_doubled").expect("`ids_doubled`");
            assert_eq!(d.data(), &TensorData::I64(doubled[i].clone()), "row {i}");
        }
    }
}
