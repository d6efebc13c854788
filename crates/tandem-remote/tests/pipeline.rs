//! The remote handler as a RunInference step of a pipeline, next to ordinary steps: results,
//! the dead-letter output, and the step's inference metrics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{batches, toy, Reply, TestServer};
use tandem_handler::ManualClock;
use tandem_pipeline::{Pipeline, RunInference};
use tandem_remote::{tensor, InferTensor, KServeV2, RemoteConfig, RemoteModelHandler};

#[test]
fn remote_handler_runs_as_a_pipeline_step() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| Reply::Ok);
    let handler = RemoteModelHandler::new(server.base_url(), KServeV2::new("toy"))
        .with_config(RemoteConfig {
            num_retries: 0,
            ..RemoteConfig::default()
        })
        .with_batch_config(batches(8))
        .with_clock(Arc::new(clock));

    let p = Pipeline::new();
    // 20 rows; row 13 holds the value the toy model rejects (HTTP 400).
    let rows: Vec<Vec<f32>> = (0..20)
        .map(|i| {
            if i == 13 {
                vec![-999.0, 0.0]
            } else {
                vec![i as f32, 1.0]
            }
        })
        .collect();
    let applied = p
        .create(rows.clone())
        .map("ToTensors", |row: Vec<f32>| {
            vec![InferTensor::fp32("x", row)]
        })
        .run_inference("RemoteToy", RunInference::new(handler));
    let dead = applied.dead_letters().collect("Dead");
    let served = applied
        .map("Y", |r| {
            let x = r.example[0]
                .as_fp32()
                .map(<[f32]>::to_vec)
                .unwrap_or_default();
            let y = tensor(&r.inference, "y")
                .and_then(|t| t.as_fp32())
                .map_or(f32::NAN, |v| v[0]);
            (x, y)
        })
        .collect("Served");
    let report = p.run().expect("the pipeline runs");

    let served = served.take();
    assert_eq!(served.len(), 19);
    for (x, y) in &served {
        assert_eq!(*y, toy(x));
    }
    let dead = dead.take();
    assert_eq!(dead.len(), 1);
    assert!(format!("{dead:?}").contains("-999"), "{dead:?}");
    let step = report.step("RemoteToy").expect("step in report");
    assert_eq!(step.dead_lettered, 1);
    let inference = report
        .inference
        .models
        .iter()
        .find(|m| m.step == "RemoteToy")
        .expect("inference metrics");
    assert_eq!(
        (inference.stats.inferences, inference.stats.dead_letters),
        (19, 1)
    );
}
