//! Grouping unbounded input: refused without a window; with fixed processing-time windows,
//! each window's groups are emitted once the clock passes its end, before input closes.

use std::time::Duration;

use crossbeam_channel::unbounded;
use tandem_pipeline::{ChannelSink, ChannelSource, Error, FixedWindows, ManualClock, Pipeline};

#[test]
fn grouping_unbounded_input_needs_a_window() {
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

#[test]
fn fixed_windows_fire_when_the_clock_passes_their_end() {
    let clock = ManualClock::new(0);
    let (input_tx, input_rx) = unbounded::<String>();
    let (seen_tx, seen_rx) = unbounded::<String>();
    let (out_tx, out_rx) = unbounded::<(String, u64)>();
    let p = Pipeline::new();
    let windowed = p.read(ChannelSource::new(input_rx)).window_into(
        "Window",
        FixedWindows::of(Duration::from_millis(10)).with_clock(clock.clone()),
    );
    windowed
        .map("Pair", |w: String| (w, ()))
        // Counts, and tells the test each element has reached the grouping step's state.
        .combine_per_key("Count", 0u64, move |n, ()| {
            let _ = seen_tx.send(String::new());
            n + 1
        })
        .write("Out", ChannelSink::new(out_tx));
    let run = std::thread::spawn(move || p.run());

    for w in ["a", "a", "b"] {
        input_tx.send(w.to_string()).unwrap();
    }
    for _ in 0..3 {
        seen_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("element reached the grouping step");
    }
    assert!(
        out_rx.try_recv().is_err(),
        "window [0, 10) fired before its end"
    );
    clock.advance(Duration::from_millis(15));
    let mut first = vec![
        out_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("window fired"),
        out_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("window fired"),
    ];
    first.sort();
    assert_eq!(first, vec![("a".to_string(), 2), ("b".to_string(), 1)]);

    input_tx.send("a".to_string()).unwrap();
    drop(input_tx);
    run.join().unwrap().unwrap();
    let rest: Vec<(String, u64)> = out_rx.iter().collect();
    assert_eq!(rest, vec![("a".to_string(), 1)]);
}
