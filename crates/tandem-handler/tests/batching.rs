//! Dynamic batching driven by the manual clock: size, deadline, weight budget, length buckets,
//! adaptive size.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ex, options, temp_dir, write_weights, Linear};
use tandem_handler::{BatchConfig, Clock, InferenceEngine, ManualClock};

fn setup(name: &str, dims: usize) -> std::path::PathBuf {
    let path = temp_dir(name).join("linear.safetensors");
    let weight: Vec<f32> = (1..=dims).map(|i| i as f32).collect();
    write_weights(&path, &weight, 0.5);
    path
}

#[test]
fn full_batch_runs_at_max_size_with_correct_predictions() {
    let path = setup("size", 4);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 4,
        max_wait: Duration::from_secs(1),
        ..Default::default()
    };
    let handler = Arc::new(Linear::new(&path, cfg));
    let mut engine = InferenceEngine::new(handler.clone(), (), options("size", &clock)).unwrap();
    for x in 0..3 {
        assert!(engine.push(ex(x as f32)).is_empty());
    }
    assert_eq!(engine.buffered(), 3);
    let out = engine.push(ex(3.0));
    let ys: Vec<f32> = out.results.iter().map(|r| r.inference).collect();
    assert_eq!(ys, vec![0.5, 1.5, 2.5, 3.5]);
    assert_eq!(out.results[2].example, ex(2.0));
    assert_eq!(handler.sizes(), vec![4]);
    assert_eq!(engine.buffered(), 0);
}

#[test]
fn deadline_flushes_a_trickle() {
    let path = setup("deadline", 4);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 8,
        max_wait: Duration::from_millis(100),
        ..Default::default()
    };
    let handler = Arc::new(Linear::new(&path, cfg));
    let mut engine =
        InferenceEngine::new(handler.clone(), (), options("deadline", &clock)).unwrap();
    let t0 = clock.now();
    assert!(engine.next_deadline().is_none());
    engine.push(ex(1.0));
    clock.advance(Duration::from_millis(40));
    engine.push(ex(2.0));
    assert_eq!(
        engine.next_deadline(),
        Some(t0 + Duration::from_millis(100))
    );
    clock.advance(Duration::from_millis(59));
    assert!(engine.poll().is_empty());
    clock.advance(Duration::from_millis(1));
    let out = engine.poll();
    assert_eq!(out.results.len(), 2);
    assert_eq!(handler.sizes(), vec![2]);
    assert!(engine.next_deadline().is_none());
}

#[test]
fn weight_budget_caps_batches_and_outlier_runs_alone() {
    let path = setup("weight", 16);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 100,
        max_batch_weight: Some(6),
        max_wait: Duration::from_secs(1),
        bucketing: tandem_handler::Bucketing::Exact,
        ..Default::default()
    };
    let mut linear = Linear::new(&path, cfg);
    linear.bucket_by_length = true;
    let handler = Arc::new(linear);
    let mut engine = InferenceEngine::new(handler.clone(), (), options("weight", &clock)).unwrap();
    let mut results = Vec::new();
    let mut dead = Vec::new();
    // Weight = length: three of length 2 fill the budget of 6.
    for i in 0..7 {
        engine
            .push(vec![i as f32, 1.0])
            .drain_into(&mut results, &mut dead);
    }
    assert_eq!(handler.sizes(), vec![3, 3]);
    // An outlier of weight 8 > 6 runs alone, in its own length bucket.
    engine
        .push(vec![1.0; 8])
        .drain_into(&mut results, &mut dead);
    assert_eq!(handler.sizes(), vec![3, 3, 1]);
    engine.flush().drain_into(&mut results, &mut dead);
    assert_eq!(handler.sizes(), vec![3, 3, 1, 1]);
    assert_eq!(results.len(), 8);
    assert!(dead.is_empty());
}

#[test]
fn length_buckets_batch_ragged_inputs_without_failures() {
    let path = setup("ragged", 4);
    let lengths: Vec<usize> = (0..200).map(|i| 1 + (i * 7 + i / 3) % 4).collect();
    let run = |bucket: bool| {
        let clock = ManualClock::new();
        let cfg = BatchConfig {
            max_batch_size: 8,
            ..Default::default()
        };
        let mut linear = Linear::new(&path, cfg);
        linear.bucket_by_length = bucket;
        let mut engine =
            InferenceEngine::new(Arc::new(linear), (), options("ragged", &clock)).unwrap();
        let mut results = Vec::new();
        let mut dead = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            engine
                .push(vec![i as f32; len])
                .drain_into(&mut results, &mut dead);
        }
        engine.flush().drain_into(&mut results, &mut dead);
        let report = engine.metrics().report();
        let failed = report.step_total("ragged", |s| s.failed_batches);
        (results, dead, failed)
    };
    let (results, dead, failed) = run(true);
    assert_eq!((results.len(), dead.len(), failed), (200, 0, 0));
    for r in &results {
        let x = r.example[0];
        let expected: f32 = (1..=r.example.len()).map(|w| w as f32 * x).sum::<f32>() + 0.5;
        assert_eq!(r.inference, expected);
    }
    // Without buckets the same input makes mixed batches that the model refuses; bisection
    // still serves every element, at the price of failed calls.
    let (results, dead, failed) = run(false);
    assert_eq!((results.len(), dead.len()), (200, 0));
    assert!(failed > 0);
}

#[test]
fn batch_size_adapts_to_target_duration() {
    let path = setup("adaptive", 4);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        min_batch_size: 2,
        max_batch_size: 500,
        max_wait: Duration::from_secs(3600),
        target_batch_duration: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let mut linear = Linear::new(&path, cfg);
    linear.clock = Some(clock.clone());
    linear.overhead = Duration::from_millis(10);
    linear.per_element = Duration::from_millis(1);
    let handler = Arc::new(linear);
    let mut engine =
        InferenceEngine::new(handler.clone(), (), options("adaptive", &clock)).unwrap();
    let mut served = 0;
    for i in 0..3000 {
        served += engine.push(ex(i as f32)).results.len();
    }
    served += engine.flush().results.len();
    assert_eq!(served, 3000);
    let sizes = handler.sizes();
    assert_eq!(sizes[0], 2, "starts from min_batch_size");
    // 10 ms + 1 ms per element meets 100 ms at 90 elements.
    let settled = &sizes[sizes.len() - 6..sizes.len() - 1];
    assert!(
        settled.iter().all(|n| (88..=90).contains(n)),
        "sizes {sizes:?}"
    );
}
