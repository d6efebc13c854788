//! RunInference in a pipeline: volume with bounded buffers, dead letters, one model load for
//! many workers, refresh mid-stream, keyed co-grouping, inference args, batch overrides and
//! metrics in the run report.

mod common;
mod toy;

use std::sync::Arc;

use tandem_handler::{BatchConfig, ModelHandlerExt, ModelManager, ModelMetadata, ModelUpdates};
use tandem_pipeline::{Error, LocalRunner, Pipeline, RunInference};

use common::{assert_balanced, TempDir};
use toy::{ex, write_weights, Linear, LinearModel, Scale};

const W1: [f32; 4] = [2.0, 1.0, 0.0, 0.0];
const B1: f32 = 0.5;
const W2: [f32; 4] = [-3.0, 0.0, 0.0, 0.0];
const B2: f32 = 7.0;

fn model(w: [f32; 4], b: f32) -> LinearModel {
    LinearModel {
        weight: w.to_vec(),
        bias: b,
    }
}

fn runner(workers: usize, capacity: usize, bundle: usize) -> LocalRunner {
    LocalRunner::new()
        .with_parallelism(workers)
        .with_channel_capacity(capacity)
        .with_bundle_size(bundle)
}

/// A linear handler over fresh weights in `dir`, with a private model manager.
fn setup(dir: &TempDir, id: &str) -> (Linear, Arc<ModelManager>) {
    let path = dir.path(&format!("{id}.safetensors"));
    write_weights(&path, &W1, B1);
    (Linear::named(&path, id), Arc::new(ModelManager::new()))
}

#[test]
fn hundred_thousand_elements_stream_through_bounded_buffers() {
    const N: u32 = 100_000;
    const CAPACITY: usize = 16;
    let dir = TempDir::new("ri-volume");
    let (mut handler, manager) = setup(&dir, "volume");
    handler.config.max_batch_size = 32;
    // No deadline flushes: batch sizes then depend only on counts, not on thread timing.
    handler.config.max_wait = std::time::Duration::from_secs(600);
    let sizes = handler.batch_sizes.clone();
    let expected = model(W1, B1);

    let p = Pipeline::new();
    let served = p
        .create(0..N)
        .map("Features", |i| ex(i as f32 / 1000.0))
        .run_inference(
            "RunInference(toy)",
            RunInference::new(handler)
                .model_manager(manager)
                .max_buffered(64),
        )
        .with_parallelism(4);
    // Verify each prediction in the stream and keep only a tally: nothing holds all results.
    let tally = served
        .map("Check", move |r| r.inference == expected.apply(&r.example))
        .count_per_element("Tally")
        .collect("Collect");
    let report = p.run_with(&runner(4, CAPACITY, 256)).unwrap();

    assert_eq!(tally.take(), vec![(true, u64::from(N))]);
    assert_balanced(&report);
    let step = report.step("RunInference(toy)").unwrap();
    assert_eq!((step.elements_in, step.elements_out), (N as u64, N as u64));
    assert_eq!(step.workers, 4);
    for s in &report.steps {
        assert!(
            s.max_queued <= CAPACITY,
            "step {} queued {} > {CAPACITY}",
            s.name,
            s.max_queued
        );
    }
    let sizes = sizes.lock().unwrap();
    assert!(sizes.iter().all(|&n| (1..=32).contains(&n)), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), N as usize);
    // Full batches except at most one partial batch per worker at the end of its input
    // (bundles of 256 are a multiple of the batch size).
    let partial = sizes.iter().filter(|&&n| n < 32).count();
    assert!(partial <= 4, "{partial} partial batches");
    assert!(
        sizes.len() <= N as usize / 32 + 4,
        "{} batches",
        sizes.len()
    );
}

#[test]
fn poison_elements_go_to_dead_letters_and_nothing_is_lost() {
    let dir = TempDir::new("ri-poison");
    let (mut handler, manager) = setup(&dir, "poison");
    handler.config.max_batch_size = 8;
    let p = Pipeline::new();
    let inputs: Vec<Vec<f32>> = (0..1000)
        .map(|i| {
            if i % 97 == 13 {
                ex(f32::NAN)
            } else {
                ex(i as f32)
            }
        })
        .collect();
    let poisoned = inputs.iter().filter(|x| x[0].is_nan()).count() as u64;
    let applied = p
        .create(inputs)
        .run_inference(
            "RunInference(toy)",
            RunInference::new(handler).model_manager(manager),
        )
        .with_parallelism(3);
    let dead = applied.dead_letters().collect("Dead");
    let served = applied.collect("Served");
    let report = p.run_with(&runner(3, 8, 16)).unwrap();

    assert_balanced(&report);
    let step = report.step("RunInference(toy)").unwrap();
    assert_eq!(step.elements_in, 1000);
    assert_eq!(step.dead_lettered, poisoned);
    assert_eq!(step.elements_in, step.elements_out + step.dead_lettered);
    let dead = dead.take();
    assert_eq!(dead.len() as u64, poisoned);
    for d in &dead {
        assert!(d.element[0].is_nan(), "{d:?}");
        assert_eq!(d.step, "RunInference(toy)");
        assert!(d.error.contains("non-finite input"), "{}", d.error);
        assert!(
            d.error.contains("poison"),
            "error names the model: {}",
            d.error
        );
    }
    let served = served.take();
    assert_eq!(served.len() as u64, 1000 - poisoned);
    assert!(served.iter().all(|r| r.inference.is_finite()));
}

#[test]
fn without_a_dead_letter_output_a_poison_element_fails_the_run() {
    let dir = TempDir::new("ri-poison-fail");
    let (handler, manager) = setup(&dir, "strict");
    let p = Pipeline::new();
    p.create(vec![ex(1.0), ex(f32::NAN), ex(2.0)])
        .run_inference(
            "RunInference(strict)",
            RunInference::new(handler).model_manager(manager),
        )
        .collect("Served");
    let err = p.run_with(&runner(1, 4, 4)).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::ElementFailed { .. }),
        "unexpected error: {text}"
    );
    assert!(text.contains("non-finite input"), "{text}");
}

#[test]
fn one_model_load_serves_every_worker_and_steps_sharing_the_id() {
    let dir = TempDir::new("ri-shared");
    let (handler, manager) = setup(&dir, "shared");
    let loads = handler.loads.clone();
    let second = Linear {
        loads: loads.clone(),
        ..Linear::named(&handler.path, "shared")
    };
    let p = Pipeline::new();
    let first = p
        .create((0..2000).map(|i| ex(i as f32)))
        .run_inference(
            "First",
            RunInference::new(handler).model_manager(manager.clone()),
        )
        .with_parallelism(4);
    let out = first
        .map("Again", |r| r.example)
        .run_inference("Second", RunInference::new(second).model_manager(manager))
        .with_parallelism(3)
        .collect("Collect");
    let report = p.run_with(&runner(4, 8, 32)).unwrap();

    assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(out.take().len(), 2000);
    assert_eq!(report.step("First").unwrap().workers, 4);
    let first_stats = report.inference.get("First", "shared").unwrap();
    assert_eq!(first_stats.model_loads, 1);
    let second_stats = report.inference.get("Second", "shared").unwrap();
    assert_eq!(
        second_stats.model_loads, 0,
        "the second step reused the load"
    );
}

#[test]
fn a_model_that_cannot_load_fails_the_run_at_setup_once() {
    let dir = TempDir::new("ri-missing");
    let handler = Linear::named(&dir.path("missing.safetensors"), "missing");
    let loads = handler.loads.clone();
    let p = Pipeline::new();
    p.create((0..100).map(|i| ex(i as f32)))
        .run_inference(
            "RunInference(missing)",
            RunInference::new(handler).model_manager(Arc::new(ModelManager::new())),
        )
        .with_parallelism(4)
        .collect("Collect");
    let err = p.run_with(&runner(4, 8, 8)).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::StepFailed { phase: "setup", .. }),
        "{text}"
    );
    // The loading error names the model and the cause.
    assert!(text.contains("`missing`"), "{text}");
    assert!(text.contains("No such file"), "{text}");
    assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn model_refresh_mid_stream_changes_model_id_without_dropping_elements() {
    const N: usize = 3000;
    const SWITCH: usize = 1000;
    let dir = TempDir::new("ri-refresh");
    let (handler, manager) = setup(&dir, "v1");
    let v2_path = dir.path("v2.safetensors");
    write_weights(&v2_path, &W2, B2);
    let updates = ModelUpdates::new();
    let publisher = updates.clone();
    let p = Pipeline::new();
    let results = p
        .create(0..N)
        .map("Publish v2 at 1000", move |i| {
            if i == SWITCH {
                publisher.publish(ModelMetadata {
                    model_id: "v2".into(),
                    path: Some(v2_path.clone()),
                });
            }
            (i, ex(i as f32))
        })
        .with_parallelism(1)
        .map("Features", |(_, x)| x)
        .with_parallelism(1)
        .run_inference(
            "RunInference(toy)",
            RunInference::new(handler)
                .model_manager(manager)
                .model_updates(updates),
        )
        .with_parallelism(1)
        .collect("Collect");
    let report = p.run_with(&runner(1, 8, 64)).unwrap();

    let results = results.take();
    assert_eq!(results.len(), N, "no element dropped");
    let (v1, v2) = (model(W1, B1), model(W2, B2));
    let mut seen_v2 = false;
    for r in &results {
        let i = r.example[0] as usize;
        match &*r.model_id {
            "v1" => {
                assert!(!seen_v2, "element {i} served by v1 after v2");
                assert!(
                    i < SWITCH,
                    "element {i} pushed after the update, served by v1"
                );
                assert_eq!(r.inference, v1.apply(&r.example));
            }
            "v2" => {
                seen_v2 = true;
                assert_eq!(r.inference, v2.apply(&r.example));
            }
            other => panic!("unexpected model id {other}"),
        }
    }
    assert!(seen_v2);
    let served: u64 = ["v1", "v2"]
        .iter()
        .filter_map(|id| report.inference.get("RunInference(toy)", id))
        .map(|s| s.inferences)
        .sum();
    assert_eq!(served, N as u64);
}

#[test]
fn keyed_results_co_group_back_with_their_inputs() {
    let dir = TempDir::new("ri-keyed");
    let (handler, manager) = setup(&dir, "keyed");
    let p = Pipeline::new();
    let inputs = p.create((0..500u32).map(|i| (format!("img-{i}"), ex(i as f32))));
    let predictions = inputs
        .run_inference(
            "RunInference(keyed)",
            RunInference::new(handler.keyed::<String>()).model_manager(manager),
        )
        .with_parallelism(2)
        .map("Unkey", |r| {
            let (key, result) = r.into_keyed();
            (key, (result.inference, result.model_id.to_string()))
        });
    let joined = inputs
        .co_group_by_key("Join", &predictions)
        .collect("Collect");
    let report = p.run_with(&runner(2, 8, 16)).unwrap();

    assert_balanced(&report);
    let expected = model(W1, B1);
    let joined = joined.take();
    assert_eq!(joined.len(), 500);
    for (key, (xs, preds)) in joined {
        assert_eq!((xs.len(), preds.len()), (1, 1), "key {key}");
        assert_eq!(preds[0].0, expected.apply(&xs[0]), "key {key}");
        assert_eq!(preds[0].1, "keyed");
        assert_eq!(key, format!("img-{}", xs[0][0] as u32));
    }
}

#[test]
fn inference_args_and_batch_overrides_reach_the_handler() {
    let dir = TempDir::new("ri-args");
    let (handler, manager) = setup(&dir, "args");
    let sizes = handler.batch_sizes.clone();
    let p = Pipeline::new();
    let out = p
        .create((0..200).map(|i| ex(i as f32)))
        .run_inference(
            "Scaled",
            RunInference::with_inference_args(handler, Scale { factor: 3.0 })
                .model_manager(manager)
                .batch_config(BatchConfig {
                    max_batch_size: 3,
                    ..BatchConfig::default()
                }),
        )
        .with_parallelism(2)
        .collect("Collect");
    p.run_with(&runner(2, 8, 64)).unwrap();

    let expected = model(W1, B1);
    let out = out.take();
    assert_eq!(out.len(), 200);
    assert!(out
        .iter()
        .all(|r| r.inference == 3.0 * expected.apply(&r.example)));
    let sizes = sizes.lock().unwrap();
    assert!(sizes.iter().all(|&n| n <= 3), "{sizes:?}");
    assert!(sizes.contains(&3), "{sizes:?}");
}

#[test]
fn metrics_in_the_run_report_add_up_and_render_as_prometheus() {
    let dir = TempDir::new("ri-metrics");
    let (mut handler, manager) = setup(&dir, "metrics");
    handler.config.max_batch_size = 16;
    let sizes = handler.batch_sizes.clone();
    let p = Pipeline::new();
    let applied = p
        .create((0..1500).map(|i| {
            if i % 250 == 7 {
                ex(f32::NAN)
            } else {
                ex(i as f32)
            }
        }))
        .run_inference("Step", RunInference::new(handler).model_manager(manager))
        .with_parallelism(3)
        .named("Scoring");
    applied.dead_letters().collect("Dead");
    applied.collect("Served");
    let report = p.run_with(&runner(3, 8, 32)).unwrap();

    let step = report.step("Scoring").unwrap();
    let stats = report.inference.get("Scoring", "metrics").unwrap();
    assert_eq!(report.inference.models.len(), 1, "{:?}", report.inference);
    assert_eq!(stats.inferences, step.elements_out);
    assert_eq!(stats.dead_letters, step.dead_lettered);
    assert_eq!(stats.dead_letters, 6);
    assert_eq!(stats.inferences + stats.dead_letters, step.elements_in);
    let calls = sizes.lock().unwrap();
    assert_eq!(stats.batches, calls.len() as u64);
    assert_eq!(stats.batch_size.count, stats.batches);
    assert_eq!(stats.batch_latency.count, stats.batches);
    assert_eq!(stats.batch_size.sum as usize, calls.iter().sum::<usize>());
    assert_eq!(stats.batch_size.counts.iter().sum::<u64>(), stats.batches);
    assert!(stats.failed_batches >= stats.dead_letters);
    assert_eq!(stats.model_loads, 1);
    assert_eq!(stats.model_bytes, Some(20));

    let text = report.inference_prometheus();
    let line = format!(
        "tandem_inference_inferences_total{{step=\"Scoring\",model_id=\"metrics\"}} {}",
        stats.inferences
    );
    assert!(text.contains(&line), "{text}");
    assert!(
        text.contains("tandem_inference_batch_size_bucket{"),
        "{text}"
    );
}

#[test]
fn a_live_view_taken_before_the_run_reads_the_counters_the_run_records() {
    let dir = TempDir::new("ri-live-metrics");
    let (handler, manager) = setup(&dir, "live");
    let p = Pipeline::new();
    p.create((0..100).map(|i| ex(i as f32)))
        .run_inference("Step", RunInference::new(handler).model_manager(manager))
        .named("Scoring")
        .collect("Served");
    let live = p.live_inference_metrics();
    // Nothing recorded yet: no rows.
    assert!(live.report().models.is_empty());
    let report = p.run_with(&runner(2, 8, 16)).unwrap();
    let seen = live.report();
    assert_eq!(seen, report.inference);
    assert_eq!(seen.get("Scoring", "live").map(|s| s.inferences), Some(100));
}
