//! A batch that runs out of memory is not bad data: RunInference does not retry the same
//! size, splits it until the calls fit, serves every element, and forms later batches of that
//! bucket at half the size that failed. Only an element that runs out of memory alone is
//! dead-lettered.

mod common;

use std::sync::{Arc, Mutex};

use common::options;
use tandem_handler::{
    BatchConfig, Completed, HandlerError, InferenceEngine, ManualClock, ModelHandler, RetryPolicy,
};

/// Fits `fits` elements per call; element `huge` does not fit even alone; element `poison`
/// fails any call with an ordinary (not out-of-memory) error.
struct MemoryBound {
    fits: usize,
    huge: Option<i32>,
    poison: Option<i32>,
    calls: Mutex<Vec<usize>>,
}

#[derive(Debug, thiserror::Error)]
#[error("device allocation of {0} bytes failed")]
struct Alloc(u64);

impl ModelHandler for MemoryBound {
    type Example = i32;
    type Prediction = i32;
    type Model = ();
    type Args = ();

    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn run_inference(&self, batch: &[&i32], _: &(), _: &()) -> Result<Vec<i32>, HandlerError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(batch.len());
        }
        let bytes = 1000 * batch.len() as u64;
        if batch.len() > self.fits || batch.iter().any(|&&x| Some(x) == self.huge) {
            return Err(HandlerError::out_of_memory(Some(bytes), &Alloc(bytes)));
        }
        if batch.iter().any(|&&x| Some(x) == self.poison) {
            return Err(HandlerError::inference("poisoned element"));
        }
        Ok(batch.iter().map(|&&x| x * 10).collect())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 16,
            // Retries would repeat a call of the same size: they must not be used for OOM.
            retry: RetryPolicy {
                transient_retries: 3,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

fn engine(handler: &Arc<MemoryBound>, clock: &ManualClock) -> InferenceEngine<MemoryBound> {
    InferenceEngine::new(handler.clone(), (), options("oom", clock)).expect("valid config")
}

/// Pushes `xs` and, with `flush`, flushes what is left; returns everything completed.
fn push_all(
    engine: &mut InferenceEngine<MemoryBound>,
    xs: std::ops::Range<i32>,
    flush: bool,
) -> Completed<i32, i32> {
    let mut out = Completed::default();
    for x in xs {
        out.extend(engine.push(x));
    }
    if flush {
        out.extend(engine.flush());
    }
    out
}

fn calls(handler: &MemoryBound) -> Vec<usize> {
    std::mem::take(&mut *handler.calls.lock().expect("calls"))
}

#[test]
fn a_batch_that_runs_out_of_memory_is_split_served_and_later_batches_are_capped() {
    let clock = ManualClock::new();
    let handler = Arc::new(MemoryBound {
        fits: 5,
        huge: None,
        poison: None,
        calls: Mutex::new(Vec::new()),
    });
    let mut engine = engine(&handler, &clock);
    let out = push_all(&mut engine, 0..16, false);
    assert_eq!(
        calls(&handler),
        vec![16, 8, 4, 4, 8, 4, 4],
        "split at once (no retry of 16), halves until they fit"
    );
    assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
    let mut served: Vec<i32> = out.results.iter().map(|r| r.inference).collect();
    served.sort();
    assert_eq!(served, (0..16).map(|x| x * 10).collect::<Vec<_>>());
    let report = engine.metrics().report();
    assert_eq!(report.step_total("oom", |s| s.out_of_memory_batches), 3);
    assert_eq!(report.step_total("oom", |s| s.failed_batches), 3);
    assert!(report
        .to_prometheus()
        .contains("out_of_memory_batches_total"));

    // The last OOM was at 8: later batches are formed at 4 and fit at once.
    let out = push_all(&mut engine, 16..24, true);
    assert_eq!(calls(&handler), vec![4, 4]);
    assert_eq!(out.results.len(), 8);
}

#[test]
fn an_element_that_runs_out_of_memory_alone_is_dead_lettered_with_the_cause() {
    let clock = ManualClock::new();
    let handler = Arc::new(MemoryBound {
        fits: 16,
        huge: Some(5),
        poison: None,
        calls: Mutex::new(Vec::new()),
    });
    let mut engine = engine(&handler, &clock);
    let out = push_all(&mut engine, 0..8, true);
    assert_eq!(calls(&handler), vec![8, 4, 4, 2, 1, 1, 2]);
    assert_eq!(out.results.len(), 7);
    assert_eq!(out.dead_letters.len(), 1);
    let dead = &out.dead_letters[0];
    assert_eq!(dead.example, 5);
    match &dead.error {
        HandlerError::OutOfMemory {
            requested_bytes,
            reason,
        } => {
            assert_eq!(*requested_bytes, Some(1000));
            assert!(reason.contains("allocation of 1000 bytes"), "{reason}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
}

/// Only an out-of-memory failure counts as one and caps later batches: a batch failing for
/// another reason is retried and bisected, but leaves the bucket's batch size alone.
#[test]
fn an_ordinary_failure_is_not_counted_as_out_of_memory() {
    let clock = ManualClock::new();
    let handler = Arc::new(MemoryBound {
        fits: 16,
        huge: None,
        poison: Some(3),
        calls: Mutex::new(Vec::new()),
    });
    let mut engine = engine(&handler, &clock);
    let out = push_all(&mut engine, 0..8, true);
    assert_eq!(
        calls(&handler),
        vec![8, 8, 8, 8, 4, 2, 2, 1, 1, 4],
        "three retries, then bisection down to the poisoned element"
    );
    assert_eq!(out.results.len(), 7);
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].example, 3);
    let report = engine.metrics().report();
    assert_eq!(report.step_total("oom", |s| s.out_of_memory_batches), 0);
    assert!(report.step_total("oom", |s| s.failed_batches) >= 4);

    // Later batches are still formed at max_batch_size.
    let out = push_all(&mut engine, 8..24, true);
    assert_eq!(calls(&handler), vec![16]);
    assert_eq!(out.results.len(), 16);
}
