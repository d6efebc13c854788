//! Metrics add up: every element is counted once, as an inference or a dead letter; batch counts
//! match the histograms; loads, load time and model bytes are recorded; Prometheus text renders.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ex, options, temp_dir, write_weights, Linear};
use tandem_handler::{BatchConfig, InferenceEngine, InferenceMetrics, ManualClock, ModelManager};

#[test]
fn counts_add_up_across_workers_and_steps() {
    let dir = temp_dir("metrics");
    let path = dir.join("m.safetensors");
    write_weights(&path, &[1.0, 2.0, 3.0, 4.0], 0.0);
    let clock = ManualClock::new();
    let manager = Arc::new(ModelManager::new());
    let metrics = InferenceMetrics::new();
    let cfg = BatchConfig {
        max_batch_size: 8,
        ..Default::default()
    };
    let mut linear = Linear::new(&path, cfg).with_id("m");
    linear.clock = Some(clock.clone());
    linear.overhead = Duration::from_millis(3);
    let handler = Arc::new(linear);
    let loads = handler.loads.clone();
    let opts = |step: &str| {
        options(step, &clock)
            .with_manager(manager.clone())
            .with_metrics(metrics.clone())
    };
    // Two workers of step "A" and one worker of step "B", all naming model "m".
    let mut engines = vec![
        InferenceEngine::new(handler.clone(), (), opts("A")).unwrap(),
        InferenceEngine::new(handler.clone(), (), opts("A")).unwrap(),
        InferenceEngine::new(handler.clone(), (), opts("B")).unwrap(),
    ];
    let mut pushed = [0u64; 3];
    let (mut served, mut dead) = (0u64, 0u64);
    for i in 0..301 {
        let w = i % 3;
        let x = if i % 37 == 5 { f32::NAN } else { i as f32 };
        let out = engines[w].push(ex(x));
        pushed[w] += 1;
        served += out.results.len() as u64;
        dead += out.dead_letters.len() as u64;
    }
    for engine in &mut engines {
        let out = engine.flush();
        served += out.results.len() as u64;
        dead += out.dead_letters.len() as u64;
    }
    let poison = (0..301).filter(|i| i % 37 == 5).count() as u64;
    assert_eq!((served, dead), (301 - poison, poison));
    assert_eq!(
        loads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one load for both steps"
    );

    let report = metrics.report();
    let a = report.get("A", "m").unwrap();
    let b = report.get("B", "m").unwrap();
    assert_eq!(a.inferences + a.dead_letters, pushed[0] + pushed[1]);
    assert_eq!(b.inferences + b.dead_letters, pushed[2]);
    assert_eq!(a.inferences + b.inferences, served);
    for s in [a, b] {
        assert_eq!(s.batch_size.count, s.batches);
        assert_eq!(s.batch_latency.count, s.batches);
        assert_eq!(s.batch_size.counts.iter().sum::<u64>(), s.batches);
        assert!(s.failed_batches > 0 && s.failed_batches < s.batches);
        // Each call advanced the clock by 3 ms.
        assert!((s.batch_latency.sum - 0.003 * s.batches as f64).abs() < 1e-9);
    }
    // The load is counted once, in the step whose worker loaded first.
    assert_eq!(a.model_loads + b.model_loads, 1);
    // The registry times a load on the real clock: reading a file takes a positive time, and
    // exactly one load's time is recorded (added, not replaced or subtracted).
    let load_seconds = a.model_load_seconds + b.model_load_seconds;
    assert!(
        load_seconds > 0.0 && load_seconds.is_finite(),
        "load time recorded: {load_seconds}"
    );
    assert_eq!(a.model_bytes, Some(20));

    let text = report.to_prometheus();
    let line = format!(
        "tandem_inference_inferences_total{{step=\"A\",model_id=\"m\"}} {}",
        a.inferences
    );
    assert!(text.contains(&line), "{text}");
    let line = format!(
        "tandem_inference_batch_size_count{{step=\"B\",model_id=\"m\"}} {}",
        b.batches
    );
    assert!(text.contains(&line));
    assert!(text.contains("tandem_inference_model_bytes{step=\"A\",model_id=\"m\"} 20"));
}
