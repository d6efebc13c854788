//! Event-time windows and the watermark, on small pipelines: windows close in order as the
//! watermark passes them, empty windows emit nothing, late data is emitted (never dropped)
//! and counted, the global window emits at end of input, early triggers emit an unbounded
//! collection's groups before the input closes, and windowed groups of an unbounded source
//! leave while the source is still open. No test waits on a timing: channels and counters
//! tell when an element has arrived, and receive timeouts are liveness guards only.

mod common;

use std::time::Duration;

use crossbeam_channel::unbounded;
use tandem_pipeline::{
    ChannelSink, ChannelSource, CoGrouped, Error, FixedWindows, GlobalWindows, PCollection,
    Pipeline, SlidingWindows, Source, SourceEvent, Timestamp, Trigger,
};

const LIVENESS: Duration = Duration::from_secs(30);

#[test]
fn grouping_unbounded_input_needs_windows_or_an_early_trigger() {
    let (_tx, rx) = unbounded::<(String, u32)>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(rx))
        .group_by_key("Group")
        .collect("Out");
    match p.run() {
        Err(Error::UnboundedGroupWithoutWindow { step }) => assert_eq!(step, "Group"),
        other => panic!("expected UnboundedGroupWithoutWindow, got {other:?}"),
    }
}

/// Events given up front: elements with explicit timestamps and watermarks.
struct Scripted(Vec<SourceEvent<(String, u32)>>);

impl Source for Scripted {
    type Item = (String, u32);
    fn default_name(&self) -> String {
        "Scripted".into()
    }
    fn open(self) -> Result<tandem_pipeline::io::ElementIter<Self::Item>, Error> {
        Ok(Box::new(self.0.into_iter().filter_map(|e| match e {
            SourceEvent::Element { value, .. } => Some(Ok(value)),
            SourceEvent::Watermark(_) => None,
        })))
    }
    fn open_split(
        self,
        _worker: usize,
        _peers: usize,
    ) -> Result<tandem_pipeline::io::EventIter<Self::Item>, Error> {
        Ok(Box::new(self.0.into_iter().map(Ok)))
    }
}

fn at(key: &str, value: u32, t: u64) -> SourceEvent<(String, u32)> {
    SourceEvent::Element {
        value: (key.to_string(), value),
        timestamp: Timestamp(t),
    }
}

#[test]
fn windows_close_in_order_and_empty_windows_emit_nothing() {
    let p = Pipeline::new();
    let out = p
        .read(Scripted(vec![
            at("k", 1, 3),
            at("k", 2, 7),
            at("k", 3, 31),
            at("k", 4, 12),
        ]))
        .window_into("Window", FixedWindows::new(10))
        .group_by_key("Group")
        .with_parallelism(1)
        .collect("Out");
    let report = p.run_with(&common::runner(2)).unwrap();
    // [20, 30) had no element: no pane. Windows reach the sink oldest first.
    let got: Vec<Vec<u32>> = out
        .take()
        .into_iter()
        .map(|(_, vs)| common::sorted(vs))
        .collect();
    assert_eq!(got, vec![vec![1, 2], vec![4], vec![3]]);
    assert_eq!(report.step("Group").unwrap().late, 0);
}

/// Events sent by the test while the pipeline runs.
struct EventChannel(crossbeam_channel::Receiver<SourceEvent<(String, u32)>>);

impl Source for EventChannel {
    type Item = (String, u32);
    fn default_name(&self) -> String {
        "Events".into()
    }
    fn is_bounded(&self) -> bool {
        false
    }
    fn open(self) -> Result<tandem_pipeline::io::ElementIter<Self::Item>, Error> {
        Err(Error::InvalidGraph {
            reason: "EventChannel is opened with open_split".into(),
        })
    }
    fn open_split(
        self,
        _worker: usize,
        _peers: usize,
    ) -> Result<tandem_pipeline::io::EventIter<Self::Item>, Error> {
        Ok(Box::new(self.0.into_iter().map(Ok)))
    }
}

#[test]
fn late_elements_are_emitted_alone_and_counted() {
    let (tx, rx) = unbounded();
    let (out_tx, out_rx) = unbounded::<(String, Vec<u32>)>();
    let p = Pipeline::new();
    p.read(EventChannel(rx))
        .window_into("Window", FixedWindows::new(10))
        .group_by_key("Group")
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    tx.send(at("k", 5, 5)).unwrap();
    tx.send(SourceEvent::Watermark(Timestamp(10))).unwrap();
    assert_eq!(
        out_rx.recv_timeout(LIVENESS).unwrap().1,
        vec![5],
        "[0,10) closes at 10"
    );
    // Behind the watermark: a late pane of its own, not merged, not lost.
    tx.send(at("k", 9, 9)).unwrap();
    assert_eq!(out_rx.recv_timeout(LIVENESS).unwrap().1, vec![9]);
    tx.send(at("k", 15, 15)).unwrap();
    drop(tx);
    let report = run.join().unwrap().unwrap();
    let rest: Vec<Vec<u32>> = out_rx.iter().map(|(_, vs)| vs).collect();
    assert_eq!(rest, vec![vec![15]]);
    assert_eq!(report.step("Group").unwrap().late, 1);
    common::assert_balanced(&report);
}

/// A co-group's late data is emitted alone and counted like a group's: the join of a windowed
/// event stream with a small bounded side input (position 0, window [0, 10)).
#[test]
fn late_elements_of_a_co_group_are_emitted_alone_and_counted() {
    let (tx, rx) = unbounded();
    let (out_tx, out_rx) = unbounded::<CoGrouped<String, u32, char>>();
    let p = Pipeline::new();
    let events = p
        .read(EventChannel(rx))
        .window_into("Window", FixedWindows::new(10));
    let labels = p
        .create(vec![("k".to_string(), 'x')])
        .window_into("WindowLabels", FixedWindows::new(10));
    events
        .co_group_by_key("Join", &labels)
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    tx.send(at("k", 5, 5)).unwrap();
    tx.send(SourceEvent::Watermark(Timestamp(10))).unwrap();
    assert_eq!(
        out_rx.recv_timeout(LIVENESS).unwrap(),
        ("k".to_string(), (vec![5], vec!['x'])),
        "[0,10) closes at 10"
    );
    // Behind the watermark: a late pane of its own, not merged, not lost.
    tx.send(at("k", 9, 9)).unwrap();
    assert_eq!(
        out_rx.recv_timeout(LIVENESS).unwrap(),
        ("k".to_string(), (vec![9], vec![]))
    );
    drop(tx);
    let report = run.join().unwrap().unwrap();
    assert!(out_rx.iter().next().is_none(), "nothing else was held");
    assert_eq!(report.step("Join").unwrap().late, 1);
    common::assert_balanced(&report);
}

/// Runs `first` (a grouping step emitting `((), n)` per key and window) followed by a second
/// windowed grouping that sums its panes, over 20 windows of an unbounded source. The first
/// step's open panes hold back the watermark the second sees (`Executor::hold`): each window's
/// sum leaves while the input is open (so the hold is released once the pane fired), whole
/// (3 values) and never late (the hold was there while the pane was open). Without the hold
/// the second step may see the watermark pass before the first emits the pane: a race, so a
/// missing hold fails this test usually (in both mutation runs so far), not on every run.
fn chained_grouping_sums_each_window_on_time(
    first: impl FnOnce(&Pipeline, PCollection<(String, u32)>) -> PCollection<((), u64)>,
) {
    let (tx, rx) = unbounded();
    let (out_tx, out_rx) = unbounded::<((), u64)>();
    let p = Pipeline::new();
    let events = p
        .read(EventChannel(rx))
        .window_into("Window", FixedWindows::new(10));
    first(&p, events)
        .combine_per_key("Sum", 0u64, |a, n| a + n)
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    for w in 0..20u64 {
        tx.send(at("a", 1, w * 10)).unwrap();
        tx.send(at("b", 1, w * 10 + 1)).unwrap();
        tx.send(at("a", 1, w * 10 + 2)).unwrap();
        tx.send(SourceEvent::Watermark(Timestamp(w * 10 + 10)))
            .unwrap();
        assert_eq!(
            out_rx.recv_timeout(LIVENESS).expect("the window's sum"),
            ((), 3),
            "window {w}"
        );
    }
    drop(tx);
    let report = run.join().unwrap().unwrap();
    assert!(out_rx.iter().next().is_none(), "nothing left for the end");
    assert_eq!(report.step("Sum").unwrap().late, 0);
    common::assert_balanced(&report);
}

#[test]
fn a_grouping_after_a_combine_sees_each_window_on_time() {
    chained_grouping_sums_each_window_on_time(|_, events| {
        events
            .count_per_key("Count")
            .map("Unkey", |(_, n)| ((), n))
            .output()
    });
}

#[test]
fn a_grouping_after_a_co_group_sees_each_window_on_time() {
    chained_grouping_sums_each_window_on_time(|p, events| {
        let none = p
            .create(Vec::<(String, char)>::new())
            .window_into("WindowNone", FixedWindows::new(10));
        events
            .co_group_by_key("Join", &none)
            .map("Unkey", |(_, (vs, _))| ((), vs.len() as u64))
            .output()
    });
}

#[test]
fn the_global_window_emits_at_end_of_bounded_input() {
    let p = Pipeline::new();
    let out = p
        .create(vec![("a", 1u32), ("b", 2), ("a", 3)])
        .map("Own", |(k, v)| (k.to_string(), v))
        .group_by_key("Group")
        .collect("Out");
    p.run_with(&common::runner(2)).unwrap();
    let got: Vec<(String, Vec<u32>)> = common::sorted(
        out.take()
            .into_iter()
            .map(|(k, vs)| (k, common::sorted(vs)))
            .collect(),
    );
    assert_eq!(got, vec![("a".into(), vec![1, 3]), ("b".into(), vec![2])]);
}

#[test]
fn sliding_windows_count_each_element_in_every_window_it_falls_in() {
    let p = Pipeline::new();
    // Positions 0..6, windows of 4 every 2: [0,4) [2,6) [4,8) (time starts at 0: no window
    // starts before it).
    let out = p
        .create(vec![1u32; 6])
        .window_into("Window", SlidingWindows::new(4, 2))
        .map("Key", |x| ((), x))
        .combine_per_key("Sum", 0u32, |a, x| a + x)
        .collect("Out");
    p.run_with(&common::runner(2)).unwrap();
    let got = common::sorted(out.take().into_iter().map(|(_, s)| s).collect());
    assert_eq!(got, vec![2, 4, 4]);
}

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
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));

    for w in ["a", "a", "b"] {
        input_tx.send(w.to_string()).unwrap();
    }
    let mut first = vec![
        out_rx.recv_timeout(LIVENESS).expect("window [0,3) fired"),
        out_rx.recv_timeout(LIVENESS).expect("window [0,3) fired"),
    ];
    first.sort();
    assert_eq!(first, vec![("a".to_string(), 2), ("b".to_string(), 1)]);

    input_tx.send("a".to_string()).unwrap();
    drop(input_tx);
    let report = run.join().unwrap().unwrap();
    let rest: Vec<(String, u64)> = out_rx.iter().collect();
    assert_eq!(rest, vec![("a".to_string(), 1)]);
    common::assert_balanced(&report);
}

#[test]
fn an_early_count_trigger_groups_unbounded_input_in_the_global_window() {
    let (input_tx, input_rx) = unbounded::<(String, u32)>();
    let (out_tx, out_rx) = unbounded::<(String, Vec<u32>)>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        .window_into("Window", GlobalWindows.triggering(Trigger::AfterCount(2)))
        .group_by_key("Group")
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    input_tx.send(("k".into(), 1)).unwrap();
    input_tx.send(("k".into(), 2)).unwrap();
    let (k, vs) = out_rx.recv_timeout(LIVENESS).expect("early pane");
    assert_eq!((k.as_str(), common::sorted(vs)), ("k", vec![1, 2]));
    input_tx.send(("k".into(), 3)).unwrap();
    drop(input_tx);
    run.join().unwrap().unwrap();
    let rest: Vec<(String, Vec<u32>)> = out_rx.iter().collect();
    assert_eq!(
        rest,
        vec![("k".to_string(), vec![3])],
        "the rest fires at end of input"
    );
}

#[test]
fn a_processing_time_trigger_fires_while_input_is_open() {
    let (input_tx, input_rx) = unbounded::<(String, u32)>();
    let (out_tx, out_rx) = unbounded::<(String, Vec<u32>)>();
    let p = Pipeline::new();
    p.read(ChannelSource::new(input_rx))
        .window_into(
            "Window",
            GlobalWindows.triggering(Trigger::after_processing_time(Duration::from_millis(5))),
        )
        .group_by_key("Group")
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    input_tx.send(("k".into(), 7)).unwrap();
    // The pane fires by its timer, with the input still open (no timing is asserted).
    let (_, vs) = out_rx.recv_timeout(LIVENESS).expect("processing-time pane");
    assert_eq!(vs, vec![7]);
    drop(input_tx);
    run.join().unwrap().unwrap();
    assert!(out_rx.iter().next().is_none());
}

/// A windowed co-group fires by its timer too: with a processing-time trigger on both inputs
/// (the same windowing), the joined pane leaves while both inputs are still open. Without the
/// co-group's `next_deadline`/`on_deadline` nothing would leave before end of input.
#[test]
fn a_processing_time_trigger_fires_a_co_group_while_input_is_open() {
    let (left_tx, left_rx) = unbounded::<(String, u32)>();
    let (right_tx, right_rx) = unbounded::<(String, char)>();
    let (out_tx, out_rx) = unbounded::<CoGrouped<String, u32, char>>();
    let p = Pipeline::new();
    let windowing =
        || GlobalWindows.triggering(Trigger::after_processing_time(Duration::from_millis(5)));
    let left = p
        .read(ChannelSource::new(left_rx))
        .window_into("WindowLeft", windowing());
    let right = p
        .read(ChannelSource::new(right_rx))
        .window_into("WindowRight", windowing());
    left.co_group_by_key("Join", &right)
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run_with(&common::runner(2)));
    left_tx.send(("k".into(), 7)).unwrap();
    right_tx.send(("k".into(), 'x')).unwrap();
    // Both values may come in one pane or in two (each side's element starts the timer when it
    // arrives): gather panes until both are seen, all while the inputs are open.
    let (mut ls, mut rs) = (Vec::new(), Vec::new());
    while ls.is_empty() || rs.is_empty() {
        let (k, (l, r)) = out_rx.recv_timeout(LIVENESS).expect("processing-time pane");
        assert_eq!(k, "k");
        ls.extend(l);
        rs.extend(r);
    }
    assert_eq!((ls, rs), (vec![7], vec!['x']));
    drop(left_tx);
    drop(right_tx);
    run.join().unwrap().unwrap();
    assert!(
        out_rx.iter().next().is_none(),
        "nothing left for end of input"
    );
}
