//! Review of the event-time / watermark runner (commit e36dceb): each test documents a bug
//! found in review and fails until it is fixed. Ordering is forced with channels and `Drop`
//! signals, never with sleeps; receive timeouts are liveness guards only.

mod common;

use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use tandem_pipeline::io::{ElementIter, EventIter};
use tandem_pipeline::{
    BoxError, ChannelSink, ChannelSource, CoGrouped, DoFn, Emitter, Error, FixedWindows,
    LocalRunner, Pipeline, Source, SourceEvent, StopHandle, Timestamp,
};

const LIVENESS: Duration = Duration::from_secs(20);

fn at(key: &str, value: u32, t: u64) -> SourceEvent<(String, u32)> {
    SourceEvent::Element {
        value: (key.to_string(), value),
        timestamp: Timestamp(t),
    }
}

/// Scripted events; signals `closed` when the runner drops the event iterator, which the
/// local runner does only after it closed the source in the progress tracker.
struct Scripted {
    events: Vec<SourceEvent<(String, u32)>>,
    closed: Option<Sender<()>>,
}

struct SignalOnDrop<I> {
    inner: I,
    closed: Option<Sender<()>>,
}

impl<I: Iterator> Iterator for SignalOnDrop<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }
}

impl<I> Drop for SignalOnDrop<I> {
    fn drop(&mut self) {
        if let Some(tx) = self.closed.take() {
            let _ = tx.send(());
        }
    }
}

impl Source for Scripted {
    type Item = (String, u32);
    fn default_name(&self) -> String {
        "Scripted".into()
    }
    fn open(self) -> Result<ElementIter<Self::Item>, Error> {
        Err(Error::InvalidGraph {
            reason: "Scripted is opened with open_split".into(),
        })
    }
    fn open_split(self, _worker: usize, _peers: usize) -> Result<EventIter<Self::Item>, Error> {
        Ok(Box::new(SignalOnDrop {
            inner: self.events.into_iter().map(Ok),
            closed: self.closed,
        }))
    }
}

/// Runs `p` on `runner` in a thread; if it has not finished within [`LIVENESS`], stops it
/// through `stop` and reports a hang.
fn run_or_hang(
    p: Pipeline,
    runner: LocalRunner,
    stop: StopHandle,
) -> Result<tandem_pipeline::RunReport, String> {
    let (tx, rx) = bounded(1);
    let handle = std::thread::spawn(move || {
        let r = p.run_with(&runner);
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(LIVENESS) {
        Ok(()) => handle
            .join()
            .map_err(|_| "run panicked".to_string())?
            .map_err(|e| e.to_string()),
        Err(_) => {
            stop.stop();
            let _ = rx.recv_timeout(LIVENESS);
            Err(format!("run did not finish within {LIVENESS:?} (hang)"))
        }
    }
}

/// Finding 1 (high): `with_max_drift` deadlocks on a source whose timestamps have a gap
/// wider than the drift. The source waits to emit t=200 until everything else in flight is
/// at least 190, but the group holds window [0,100) at 99 until the watermark passes 99, and
/// the watermark is the source's own, which only advances after t=200 is emitted.
#[test]
fn max_drift_does_not_deadlock_on_a_timestamp_gap_before_a_windowed_group() {
    let p = Pipeline::new();
    let out = p
        .read(Scripted {
            events: vec![
                at("k", 1, 0),
                SourceEvent::Watermark(Timestamp(1)),
                at("k", 2, 200),
                SourceEvent::Watermark(Timestamp(201)),
            ],
            closed: None,
        })
        .window_into("Window", FixedWindows::new(100))
        .group_by_key("Group")
        .collect("Out");
    let stop = StopHandle::new();
    let runner = common::runner(1).with_max_drift(10).with_stop(stop.clone());
    let result = run_or_hang(p, runner, stop);
    assert!(result.is_ok(), "{result:?}");
    let got: Vec<Vec<u32>> = out.take().into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, vec![vec![1], vec![2]]);
}

/// Counts elements; blocks on its first element until `gate` fires.
#[derive(Clone)]
struct GatedCount {
    gate: Receiver<()>,
    first: bool,
}

impl DoFn for GatedCount {
    type In = (String, u32);
    type Out = u32;
    fn process(
        &mut self,
        e: (String, u32),
        out: &mut Emitter<'_, Self::In, u32>,
    ) -> Result<(), BoxError> {
        if self.first {
            self.first = false;
            self.gate
                .recv_timeout(LIVENESS)
                .map_err(|e| e.to_string())?;
        }
        out.emit(e.1);
        Ok(())
    }
}

/// Finding 2 (high): an element stamped `Timestamp::MAX` (which `Timestamp` documents no
/// element carries, but neither sources nor `Emitter::emit_at` refuse) is lost: its count
/// at the consumer's input is at `MAX`, so once the source closes the consumer's watermark
/// is `MAX` with the element still queued, and the worker exits without reading it. The
/// run then fails with an accounting error (or, with a sink, silently drops data).
/// Expected: the element is delivered, or the run fails naming the source and the bad
/// timestamp.
#[test]
fn an_element_at_timestamp_max_is_not_left_in_the_channel() {
    let (closed_tx, closed_rx) = unbounded();
    let p = Pipeline::new();
    let out = p
        .read(Scripted {
            events: vec![at("k", 1, u64::MAX), at("k", 2, u64::MAX)],
            closed: Some(closed_tx),
        })
        .par_do(
            "Count",
            GatedCount {
                gate: closed_rx,
                first: true,
            },
        )
        .with_parallelism(1)
        .output()
        .collect("Out");
    let stop = StopHandle::new();
    let runner = common::runner(1).with_stop(stop.clone());
    match run_or_hang(p, runner, stop) {
        Ok(_) => assert_eq!(common::sorted(out.take()), vec![1, 2]),
        Err(e) => assert!(
            e.contains("timestamp") || e.contains("Timestamp"),
            "an element at Timestamp::MAX must be delivered or refused by name, got: {e}"
        ),
    }
}

/// Holds every element until `finish_bundle`, reporting its hold; panics on value 3.
#[derive(Clone, Default)]
struct Buffering {
    held: Vec<(String, u32)>,
    min_t: Option<Timestamp>,
    panic_on: Option<u32>,
}

impl DoFn for Buffering {
    type In = (String, u32);
    type Out = u32;
    fn process(
        &mut self,
        e: (String, u32),
        out: &mut Emitter<'_, Self::In, u32>,
    ) -> Result<(), BoxError> {
        if Some(e.1) == self.panic_on {
            panic!("bad element {}", e.1);
        }
        let t = out.timestamp();
        self.min_t = Some(self.min_t.map_or(t, |m| m.min(t)));
        self.held.push(e);
        Ok(())
    }
    fn finish_bundle(&mut self, out: &mut Emitter<'_, Self::In, u32>) -> Result<(), BoxError> {
        let w = out.window();
        for (_, v) in self.held.drain(..) {
            out.emit_at(v, self.min_t.unwrap_or(Timestamp::MIN), w);
        }
        self.min_t = None;
        Ok(())
    }
    fn hold(&self) -> Option<Timestamp> {
        self.min_t
    }
    fn held(&self) -> usize {
        self.held.len()
    }
}

/// Finding 3 (medium): after a panic in `process`, `DoFnExec` replaces the instance by a
/// fresh clone, dropping whatever the old one held (elements buffered for later output),
/// and their hold with it. Those inputs leave neither as output nor as dead letters, and
/// nothing reports it (`par_do` is `Accounting::Variable`). The module doc promises "no
/// input ever vanishes". Expected: every input accounted for, or the run fails naming the
/// step.
#[test]
fn a_panic_does_not_drop_elements_an_instance_held() {
    let p = Pipeline::new();
    let applied = p
        .create((0..6u32).map(|i| ("k".to_string(), i)))
        .par_do(
            "Buffer",
            Buffering {
                panic_on: Some(3),
                ..Buffering::default()
            },
        )
        .with_parallelism(1);
    let out = applied.output().collect("Out");
    let dead = applied.dead_letters().collect("Dead");
    let runner = LocalRunner::new()
        .with_parallelism(1)
        .with_bundle_size(100)
        .with_channel_capacity(8);
    // Failing the run naming the step is acceptable; losing the held elements silently is not.
    if let Err(e) = p.run_with(&runner) {
        assert!(e.to_string().contains("Buffer"), "{e}");
        return;
    }
    let outputs = out.take().len();
    let dead = dead.take().len();
    assert_eq!(
        outputs + dead,
        6,
        "6 inputs must leave as 6 outputs or dead letters: {outputs} outputs, {dead} dead letters"
    );
}

/// Finding 4 (high): with `with_max_drift`, a `DoFn` that batches until `finish_bundle` (the
/// classic Beam batching pattern, reporting its hold as documented) deadlocks even on bounded
/// input: the source waits for the hold at t=0 to come within the drift, and the bundle only
/// closes after `bundle_size` more elements, which the source will not send. The runner
/// never closes a bundle when its input goes idle.
#[test]
fn max_drift_does_not_deadlock_a_dofn_that_flushes_in_finish_bundle() {
    let p = Pipeline::new();
    let out = p
        .create((0..100u32).map(|i| ("k".to_string(), i)))
        .par_do("Buffer", Buffering::default())
        .with_parallelism(1)
        .output()
        .collect("Out");
    let stop = StopHandle::new();
    let runner = LocalRunner::new()
        .with_parallelism(1)
        .with_bundle_size(64)
        .with_channel_capacity(8)
        .with_max_drift(10)
        .with_max_bundle_time(Duration::from_millis(20))
        .with_stop(stop.clone());
    let result = run_or_hang(p, runner, stop);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(out.take().len(), 100);
}

/// Finding 5 (medium): on an unbounded input that goes idle, a bundle is never finished, so
/// a `DoFn` that emits in `finish_bundle` holds its outputs (and the watermark) until
/// `bundle_size` more elements arrive, possibly forever. Beam runners close a bundle when
/// no more input is immediately available (or after a time limit).
#[test]
fn an_idle_unbounded_input_finishes_the_open_bundle() {
    let (tx, rx) = unbounded::<(String, u32)>();
    let (out_tx, out_rx) = unbounded::<u32>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(rx))
        .par_do("Buffer", Buffering::default())
        .with_parallelism(1)
        .output()
        .write("Out", ChannelSink::new(out_tx));
    let stop = StopHandle::new();
    let runner = LocalRunner::new()
        .with_parallelism(1)
        .with_bundle_size(64)
        .with_max_bundle_time(Duration::from_millis(20))
        .with_stop(stop.clone());
    let handle = std::thread::spawn(move || p.run_with(&runner));
    tx.send(("k".to_string(), 7)).unwrap();
    let got = out_rx.recv_timeout(LIVENESS);
    stop.stop();
    drop(tx);
    let _ = handle.join();
    assert_eq!(
        got.ok(),
        Some(7),
        "the element never left the open bundle while the input was idle"
    );
}

/// Finding 6 (medium): `co_group_by_key` fires by the *first* input's windowing
/// (`StepView::windowing`) and keys panes by each element's own window, so joining a
/// windowed collection with a differently windowed one silently yields two half-joins per
/// key instead of one join (Beam rejects incompatible windowing at construction). Expected:
/// a build error, or one joined result.
#[test]
fn co_group_of_differently_windowed_inputs_is_rejected_or_joined() {
    let p = Pipeline::new();
    let left = p
        .create(vec![("k".to_string(), 1u32)])
        .window_into("Window", FixedWindows::new(10));
    let right = p.create(vec![("k".to_string(), 'x')]);
    let joined = left.co_group_by_key("Join", &right).collect("Out");
    match p.run_with(&common::runner(1)) {
        Ok(_) => {
            let got: Vec<CoGrouped<String, u32, char>> = joined.take();
            assert_eq!(
                got.len(),
                1,
                "one key must give one joined result, got {got:?}"
            );
        }
        Err(e) => assert!(e.to_string().contains("Join"), "{e}"),
    }
}

/// An element whose `Clone` panics on one value once armed (user code, like any other).
#[derive(Debug)]
struct Bomb {
    value: u32,
    armed: bool,
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        if self.armed && self.value == 13 {
            panic!("cannot clone 13");
        }
        Bomb {
            value: self.value,
            armed: self.armed,
        }
    }
}

/// Finding 7 (medium): user code that runs while routing (the element's `Clone` when a
/// collection has several readers, a key's `Hash` for a keyed step) is not guarded: the
/// worker thread unwinds without releasing its `LIVE` hold, without failing the run and
/// without waking anyone, so every downstream worker waits forever and the run hangs.
/// Expected: the run fails naming the step.
#[test]
fn a_panic_while_routing_fails_the_run_instead_of_hanging() {
    let p = Pipeline::new();
    let mapped = p
        .create((0..20u32).map(|value| Bomb {
            value,
            armed: false,
        }))
        // Armed only on the way out: the panic happens in the router's fan-out clone.
        .map("Arm", |b: Bomb| Bomb { armed: true, ..b })
        .with_parallelism(1)
        .output();
    let _a = mapped.map("A", |b: Bomb| b.value).output().collect("OutA");
    let _b = mapped.map("B", |b: Bomb| b.value).output().collect("OutB");
    let stop = StopHandle::new();
    let runner = common::runner(1).with_stop(stop.clone());
    match run_or_hang(p, runner, stop) {
        Ok(_) => panic!("a panicking Clone cannot succeed"),
        Err(e) => {
            eprintln!("run error: {e}");
            assert!(!e.contains("hang"), "{e}")
        }
    }
}

/// Finding 7b: the same in a source thread. It unwinds without closing its source in the
/// progress tracker, so the readers' watermark never reaches the end; their channel is
/// disconnected, so they spin, and the runner joins source threads only after every worker:
/// the run never returns.
#[test]
fn a_panic_while_a_source_routes_fails_the_run_instead_of_hanging() {
    let p = Pipeline::new();
    let source = p.create((0..20u32).map(|value| Bomb { value, armed: true }));
    let _a = source.map("A", |b: Bomb| b.value).output().collect("OutA");
    let _b = source.map("B", |b: Bomb| b.value).output().collect("OutB");
    let stop = StopHandle::new();
    let runner = common::runner(1).with_stop(stop.clone());
    match run_or_hang(p, runner, stop) {
        Ok(_) => panic!("a panicking Clone cannot succeed"),
        Err(e) => assert!(!e.contains("hang"), "{e}"),
    }
}
