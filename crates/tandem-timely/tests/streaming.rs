//! Unbounded input on timely: windows fire when the frontier passes them while the source is
//! still open, and RunInference batches are flushed by their deadline, not only at the end.
//! No test waits on a timing: channels tell when an element has arrived, and receive
//! timeouts are liveness guards only.

use std::time::Duration;

use crossbeam_channel::unbounded;
use tandem_handler::{BatchConfig, HandlerError, ModelHandler};
use tandem_pipeline::{ChannelSink, ChannelSource, FixedWindows, Pipeline, RunInference};
use tandem_timely::TimelyRunner;

const LIVENESS: Duration = Duration::from_secs(30);

#[test]
fn fixed_windows_of_an_unbounded_source_fire_before_it_closes() {
    let (input_tx, input_rx) = unbounded::<String>();
    let (out_tx, out_rx) = unbounded::<(String, u64)>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        // Positions: "a"@0, "a"@1, "b"@2 in [0,3); "a"@3 in [3,6).
        .window_into("Window", FixedWindows::new(3))
        .map("Pair", |w: String| (w, ()))
        .count_per_key("Count")
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&TimelyRunner::new(2)));

    for w in ["a", "a", "b", "a"] {
        input_tx.send(w.to_string()).expect("pipeline reads");
    }
    let mut first = vec![
        out_rx.recv_timeout(LIVENESS).expect("window [0,3) fired"),
        out_rx.recv_timeout(LIVENESS).expect("window [0,3) fired"),
    ];
    first.sort();
    assert_eq!(first, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    // [3,6) is still open: its element waits for the frontier.
    assert!(out_rx.try_recv().is_err());

    drop(input_tx);
    let report = run.join().expect("run thread").expect("run");
    let rest: Vec<(String, u64)> = out_rx.iter().collect();
    assert_eq!(rest, vec![("a".to_string(), 1)]);
    assert_eq!(report.step("Count").map(|s| s.elements_out), Some(3));
}

/// Doubles numbers; batches of up to 100 or whatever waited 20 ms.
struct Doubler;

impl ModelHandler for Doubler {
    type Example = u32;
    type Prediction = u32;
    type Model = ();
    type Args = ();
    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }
    fn run_inference(&self, batch: &[&u32], _: &(), _: &()) -> Result<Vec<u32>, HandlerError> {
        Ok(batch.iter().map(|&&x| 2 * x).collect())
    }
    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 100,
            max_wait: Duration::from_millis(20),
            ..BatchConfig::default()
        }
    }
    fn model_id(&self) -> String {
        "doubler".into()
    }
}

#[test]
fn run_inference_flushes_a_partial_batch_on_its_deadline_while_input_is_open() {
    let (input_tx, input_rx) = unbounded::<u32>();
    let (out_tx, out_rx) = unbounded::<u32>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        .run_inference("Double", RunInference::new(Doubler))
        .map("Inference", |r| r.inference)
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&TimelyRunner::new(2)));
    for x in [1, 2, 3] {
        input_tx.send(x).expect("pipeline reads");
    }
    // Three elements never fill a batch of 100: only the deadline can release them.
    let mut got: Vec<u32> = (0..3)
        .map(|_| out_rx.recv_timeout(LIVENESS).expect("deadline flush"))
        .collect();
    got.sort();
    assert_eq!(got, vec![2, 4, 6]);
    drop(input_tx);
    run.join().expect("run thread").expect("run");
}
