//! The `DoFn` timer hook: a batching DoFn is woken by its deadline when input goes quiet, and
//! flushes what it holds at end of input.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded};
use tandem_pipeline::{BoxError, ChannelSink, ChannelSource, DoFn, Emitter, LocalRunner, Pipeline};

/// Holds elements and emits them as one batch when `max` are held, when the deadline
/// (`wait` after the first held element) passes, or at the end of a bundle.
#[derive(Clone)]
struct Batcher {
    max: usize,
    wait: Duration,
    held: Vec<u32>,
    first_at: Option<Instant>,
    deadline_flushes: Arc<AtomicUsize>,
}

impl Batcher {
    fn new(max: usize, wait: Duration, deadline_flushes: Arc<AtomicUsize>) -> Self {
        Self {
            max,
            wait,
            held: Vec::new(),
            first_at: None,
            deadline_flushes,
        }
    }

    fn flush(&mut self, out: &mut Emitter<'_, u32, Vec<u32>>) {
        self.first_at = None;
        if !self.held.is_empty() {
            out.emit(std::mem::take(&mut self.held));
        }
    }
}

impl DoFn for Batcher {
    type In = u32;
    type Out = Vec<u32>;

    fn process(&mut self, x: u32, out: &mut Emitter<'_, u32, Vec<u32>>) -> Result<(), BoxError> {
        self.held.push(x);
        self.first_at.get_or_insert_with(Instant::now);
        if self.held.len() >= self.max {
            self.flush(out);
        }
        Ok(())
    }

    fn finish_bundle(&mut self, out: &mut Emitter<'_, u32, Vec<u32>>) -> Result<(), BoxError> {
        self.flush(out);
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.wait)
    }

    fn on_deadline(&mut self, out: &mut Emitter<'_, u32, Vec<u32>>) -> Result<(), BoxError> {
        self.deadline_flushes.fetch_add(1, Ordering::SeqCst);
        self.flush(out);
        Ok(())
    }
}

#[test]
fn deadline_flushes_a_partial_batch_while_input_is_still_open() {
    let (input_tx, input_rx) = unbounded::<u32>();
    let (out_tx, out_rx) = unbounded::<Vec<u32>>();
    let deadline_flushes = Arc::new(AtomicUsize::new(0));
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        .par_do(
            "Batch",
            Batcher::new(
                100,
                Duration::from_millis(20),
                Arc::clone(&deadline_flushes),
            ),
        )
        .with_parallelism(1)
        .write("Out", ChannelSink::new(out_tx));
    // Bundles far larger than the input: only the deadline can release the batch.
    let runner = LocalRunner::new().with_bundle_size(10_000);
    let run = std::thread::spawn(move || p.run_with(&runner));

    for x in [1, 2, 3] {
        input_tx.send(x).unwrap();
    }
    // Generous liveness guard, not a speed check: the batch must come while input is open.
    let batch = out_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("deadline flush");
    assert_eq!(batch, vec![1, 2, 3]);
    assert_eq!(deadline_flushes.load(Ordering::SeqCst), 1);

    input_tx.send(4).unwrap();
    drop(input_tx);
    let report = run.join().unwrap().unwrap();
    let rest: Vec<Vec<u32>> = out_rx.iter().collect();
    assert_eq!(rest, vec![vec![4]]);
    let m = report.step("Batch").unwrap();
    assert_eq!((m.elements_in, m.elements_out), (4, 2));
}

#[test]
fn held_elements_are_flushed_at_end_of_input() {
    let (tx, rx) = bounded::<Vec<u32>>(100);
    let p = Pipeline::new();
    p.create(0..10u32)
        .par_do(
            "Batch",
            Batcher::new(4, Duration::from_secs(3600), Arc::default()),
        )
        .with_parallelism(1)
        .write("Out", ChannelSink::new(tx));
    p.run_with(&LocalRunner::new().with_bundle_size(10_000))
        .unwrap();
    let batches: Vec<Vec<u32>> = rx.try_iter().collect();
    assert_eq!(
        batches,
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
}

/// A timer that never moves forward: its deadline is always in the past.
#[derive(Clone)]
struct StuckTimer {
    since: Instant,
    calls: Arc<AtomicUsize>,
}

impl DoFn for StuckTimer {
    type In = u32;
    type Out = u32;
    fn process(&mut self, x: u32, out: &mut Emitter<'_, u32, u32>) -> Result<(), BoxError> {
        out.emit(x);
        Ok(())
    }
    fn next_deadline(&self) -> Option<Instant> {
        Some(self.since)
    }
    fn on_deadline(&mut self, _out: &mut Emitter<'_, u32, u32>) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_deadline_stuck_in_the_past_does_not_starve_input() {
    let calls = Arc::new(AtomicUsize::new(0));
    let p = Pipeline::new();
    let out = p
        .create(0..200u32)
        .par_do(
            "Stuck",
            StuckTimer {
                since: Instant::now(),
                calls: Arc::clone(&calls),
            },
        )
        .collect("Out");
    p.run_with(&LocalRunner::new().with_parallelism(2)).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    assert!(calls.load(Ordering::SeqCst) >= 1);
}
