//! Memory stays bounded whatever the input size: the cascade shape (model A per element,
//! joined back with its input by key in a window of one position, then model B) holds no
//! more elements in its join and its batchers for 20,000 inputs than for 200, under the
//! runner's watermark alignment (`LocalRunner::with_max_drift`). Measured with the runner's
//! own counter of held elements (`StepMetrics::max_held`), not with timings.

mod common;
mod toy;

use std::time::Duration;

use tandem_handler::ModelHandlerExt;
use tandem_pipeline::{FixedWindows, LocalRunner, Pipeline, RunInference, RunReport};

use common::{assert_balanced, TempDir};
use toy::{ex, write_weights, Linear};

/// How far (in positions) the source may run ahead of the earliest element in flight.
const DRIFT: u64 = 64;

/// Runs the cascade over `n` inputs; returns the results and the report.
fn cascade(n: u32) -> (usize, RunReport) {
    let dir = TempDir::new("bounded");
    let path = dir.path("toy.safetensors");
    write_weights(&path, &[2.0, 1.0, 0.0, 0.0], 0.5);
    let mut handler = Linear::named(&path, &format!("bounded-{n}"));
    handler.config.max_batch_size = 8;
    handler.config.max_wait = Duration::from_millis(5);

    let p = Pipeline::new();
    let inputs = p
        .create(0..n)
        .window_into("WindowPerInput", FixedWindows::new(1))
        .map("Key", |i| (format!("input-{i}"), i));
    let first = inputs
        .map("Features", |(k, i)| (k, ex(i as f32)))
        .run_inference("ModelA", RunInference::new(handler.keyed()))
        .map("ScoreA", |r| (r.example.0, r.inference));
    let joined = inputs
        .co_group_by_key("Join", &first)
        .map("Pair", |(k, (is, scores))| (k, (is.len(), scores.len())));
    let out = joined
        .filter("Complete", |(_, (a, b))| *a == 1 && *b == 1)
        .collect("Out");
    let runner = LocalRunner::new()
        .with_parallelism(2)
        .with_channel_capacity(8)
        .with_bundle_size(16)
        .with_max_drift(DRIFT);
    let report = p.run_with(&runner).unwrap();
    let count = out.take().len();
    (count, report)
}

#[test]
fn the_join_and_the_batchers_hold_the_same_for_200_and_20000_inputs() {
    let (small_n, small) = cascade(200);
    let (large_n, large) = cascade(20_000);
    assert_eq!(
        (small_n, large_n),
        (200, 20_000),
        "every input joined with its result"
    );
    assert_balanced(&large);
    // A bound from the runner's settings alone: with at most DRIFT positions in flight, the
    // join holds at most an image and a score per position, per instance (two).
    const BOUND: usize = 4 * DRIFT as usize;
    for step in ["Join", "ModelA"] {
        let (s, l) = (
            small.step(step).unwrap().max_held,
            large.step(step).unwrap().max_held,
        );
        assert!(l > 0, "{step} held nothing: the counter is not wired");
        assert!(
            s <= BOUND && l <= BOUND,
            "{step} held {s} elements for 200 inputs and {l} for 20,000 (bound {BOUND})"
        );
    }
}
