//! Memory stays bounded: a large source feeding a slow step never runs more than the
//! channel capacity (plus the elements in hand) ahead of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem_pipeline::{LocalRunner, Pipeline};

#[test]
fn large_source_through_slow_step_buffers_at_most_the_channel_capacity() {
    const N: usize = 100_000;
    const CAPACITY: usize = 16;
    let produced = Arc::new(AtomicUsize::new(0));
    let consumed = Arc::new(AtomicUsize::new(0));
    let max_gap = Arc::new(AtomicUsize::new(0));

    let p = Pipeline::new();
    let counter = Arc::clone(&produced);
    let source = p.create((0..N).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let (prod, cons, gap) = (
        Arc::clone(&produced),
        Arc::clone(&consumed),
        Arc::clone(&max_gap),
    );
    let total = source
        .map("Slow", move |i| {
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let done = cons.fetch_add(1, Ordering::SeqCst) + 1;
            gap.fetch_max(prod.load(Ordering::SeqCst) - done, Ordering::SeqCst);
            i
        })
        .with_parallelism(1)
        .count_globally("Count")
        .collect("Total");
    let runner = LocalRunner::new().with_channel_capacity(CAPACITY);
    let report = p.run_with(&runner).unwrap();

    assert_eq!(total.take(), vec![N as u64]);
    assert_eq!(consumed.load(Ordering::SeqCst), N);
    // In flight between the source's counter and the slow step's: one in the source's hand,
    // CAPACITY in the channel, one inside the slow step.
    let gap = max_gap.load(Ordering::SeqCst);
    assert!(gap <= CAPACITY + 2, "source ran {gap} elements ahead");
    let slow = report.step("Slow").unwrap();
    assert!(
        slow.max_queued <= CAPACITY,
        "queue reached {}",
        slow.max_queued
    );
    assert!(report.steps.iter().all(|s| s.max_queued <= CAPACITY));
}
