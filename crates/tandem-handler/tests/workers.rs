//! Several workers on threads, one engine each, share one loaded model.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{ex, temp_dir, write_weights, Linear};
use tandem_handler::{
    BatchConfig, EngineOptions, InferenceEngine, InferenceMetrics, ModelManager, SystemClock,
};

#[test]
fn concurrent_workers_load_the_model_once_and_lose_nothing() {
    let dir = temp_dir("workers");
    let path = dir.join("m.safetensors");
    write_weights(&path, &[2.0, 0.0, 0.0, 0.0], 1.0);
    let manager = Arc::new(ModelManager::new());
    let metrics = InferenceMetrics::new();
    let handler = Arc::new(Linear::new(&path, BatchConfig::default()).with_id("shared"));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let opts = EngineOptions::new("Workers")
                .with_clock(Arc::new(SystemClock))
                .with_manager(manager.clone())
                .with_metrics(metrics.clone());
            let mut engine = InferenceEngine::new(handler.clone(), (), opts).unwrap();
            // Every worker holds the model before any starts, as a pipeline step's workers do
            // after `setup`; otherwise a worker that finishes first may release the model (by
            // design: unreferenced models are freed) before a slow one has loaded it.
            engine.ensure_loaded().unwrap();
            std::thread::spawn(move || {
                let mut sum = 0.0f64;
                let mut n = 0;
                for i in 0..2_000 {
                    let out = engine.push(ex((w * 10_000 + i) as f32));
                    n += out.len();
                    sum += out
                        .results
                        .iter()
                        .map(|r| f64::from(r.inference))
                        .sum::<f64>();
                }
                let out = engine.flush();
                n += out.len();
                sum += out
                    .results
                    .iter()
                    .map(|r| f64::from(r.inference))
                    .sum::<f64>();
                (n, sum)
            })
        })
        .collect();
    let mut total = 0;
    let mut sum = 0.0;
    for worker in workers {
        let (n, s) = worker.join().unwrap();
        total += n;
        sum += s;
    }
    assert_eq!(total, 8_000);
    let expected: f64 = (0..4)
        .flat_map(|w| (0..2_000).map(move |i| 2.0 * (w * 10_000 + i) as f64 + 1.0))
        .sum();
    assert_eq!(sum, expected);
    assert_eq!(handler.loads.load(Ordering::SeqCst), 1);
    let stats = metrics.report().get("Workers", "shared").cloned().unwrap();
    assert_eq!(stats.inferences, 8_000);
    // All engines are gone: the model is released.
    assert!(manager.loaded_ids().is_empty());
}
