//! The `DoFn` timer hook: a batching DoFn is woken by its deadline when input goes quiet, and
//! flushes what it holds at end of input.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded};
use tandem_pipeline::{
    BoxError, ChannelSink, ChannelSource, Clock, DoFn, Emitter, LocalRunner, ManualClock, Pipeline,
};

/// Holds elements and emits them as one batch when `max` are held, when the deadline
/// (`wait` after the first held element, on the injected `clock`) passes, or at the end of a
/// bundle.
///
/// The runner's timers run on real `Instant`s; the batcher translates its clock into them: a
/// deadline not yet reached on `clock` is reported as a re-check `POLL` from now, one reached
/// as now. So whether the deadline has passed depends only on the test advancing `clock`, never
/// on how fast a loaded machine runs the test.
#[derive(Clone)]
struct Batcher {
    max: usize,
    wait: Duration,
    clock: Arc<ManualClock>,
    held: Vec<u32>,
    first_at_ms: Option<u64>,
    processed: Arc<AtomicUsize>,
    deadline_flushes: Arc<AtomicUsize>,
}

const POLL: Duration = Duration::from_millis(2);

impl Batcher {
    fn new(max: usize, wait: Duration, clock: Arc<ManualClock>) -> Self {
        Self {
            max,
            wait,
            clock,
            held: Vec::new(),
            first_at_ms: None,
            processed: Arc::default(),
            deadline_flushes: Arc::default(),
        }
    }

    fn flush(&mut self, out: &mut Emitter<'_, u32, Vec<u32>>) {
        self.first_at_ms = None;
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
        self.first_at_ms.get_or_insert(self.clock.now_ms());
        self.processed.fetch_add(1, Ordering::SeqCst);
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
        let first = self.first_at_ms?;
        let due = first + self.wait.as_millis() as u64;
        Some(if self.clock.now_ms() >= due {
            Instant::now()
        } else {
            Instant::now() + POLL
        })
    }

    fn on_deadline(&mut self, out: &mut Emitter<'_, u32, Vec<u32>>) -> Result<(), BoxError> {
        let due = self
            .first_at_ms
            .is_some_and(|first| self.clock.now_ms() >= first + self.wait.as_millis() as u64);
        if due {
            self.deadline_flushes.fetch_add(1, Ordering::SeqCst);
            self.flush(out);
        }
        Ok(())
    }
}

/// Waits (liveness guard only, not a speed check) until `counter` reaches `n`.
fn wait_for(counter: &AtomicUsize, n: usize) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < give_up,
            "the step never processed {n} elements"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn deadline_flushes_a_partial_batch_while_input_is_still_open() {
    let (input_tx, input_rx) = unbounded::<u32>();
    let (out_tx, out_rx) = unbounded::<Vec<u32>>();
    let clock = ManualClock::new(0);
    let batcher = Batcher::new(100, Duration::from_millis(20), Arc::clone(&clock));
    let (processed, deadline_flushes) = (
        Arc::clone(&batcher.processed),
        Arc::clone(&batcher.deadline_flushes),
    );
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        .par_do("Batch", batcher)
        .with_parallelism(1)
        .write("Out", ChannelSink::new(out_tx));
    // Bundles far larger and longer than the input: only the deadline can release the batch.
    let runner = LocalRunner::new()
        .with_bundle_size(10_000)
        .with_max_bundle_time(Duration::from_secs(3600));
    let run = std::thread::spawn(move || p.run_with(&runner));

    for x in [1, 2, 3] {
        input_tx.send(x).unwrap();
    }
    wait_for(&processed, 3);
    // 19 ms on the injected clock: not yet due, however long the machine took so far.
    clock.advance(Duration::from_millis(19));
    assert!(
        out_rx.recv_timeout(POLL * 20).is_err(),
        "flushed before the deadline"
    );
    assert_eq!(deadline_flushes.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_millis(1));
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
            Batcher::new(4, Duration::from_secs(3600), ManualClock::new(0)),
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
