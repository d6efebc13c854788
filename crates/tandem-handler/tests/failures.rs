//! Failure isolation: bisection of a poison element, panics, retries with back-off, wrong output
//! counts, loading failures reported once, batch timeouts. No element is ever lost.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{ex, options, temp_dir, write_weights, Linear};
use tandem_handler::{
    BatchConfig, Clock, HandlerError, InferenceEngine, ManualClock, ModelHandler, RetryPolicy,
};

fn weights(name: &str) -> std::path::PathBuf {
    let path = temp_dir(name).join("linear.safetensors");
    write_weights(&path, &[1.0, 2.0, 3.0, 4.0], 0.5);
    path
}

#[test]
fn bisection_isolates_one_poison_element() {
    let path = weights("poison");
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 16,
        ..Default::default()
    };
    let handler = Arc::new(Linear::new(&path, cfg));
    let mut engine = InferenceEngine::new(handler.clone(), (), options("poison", &clock)).unwrap();
    let mut results = Vec::new();
    let mut dead = Vec::new();
    for i in 0..16 {
        let x = if i == 11 { f32::NAN } else { i as f32 };
        engine.push(ex(x)).drain_into(&mut results, &mut dead);
    }
    assert_eq!(results.len(), 15);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].example[0].is_nan());
    assert_eq!(
        dead[0].error,
        HandlerError::Inference {
            reason: "non-finite input".into()
        }
    );
    let mut served: Vec<f32> = results.iter().map(|r| r.example[0]).collect();
    served.sort_by(f32::total_cmp);
    let expected: Vec<f32> = (0..16).filter(|&i| i != 11).map(|i| i as f32).collect();
    assert_eq!(served, expected);
    // Depth first: 16 fails; 8 (ok), 8 fails; 4 fails; 2 (ok), 2 fails; 1 (ok), 1 (poison);
    // then the remaining 4 (ok). One full call plus two per halving level.
    assert_eq!(handler.sizes(), vec![16, 8, 8, 4, 2, 2, 1, 1, 4]);
    let stats = engine
        .metrics()
        .report()
        .get("poison", &path.display().to_string())
        .cloned();
    let stats = stats.unwrap();
    assert_eq!(
        (stats.batches, stats.failed_batches),
        (9, 5),
        "16, 8, 4, 2 and 1 failed"
    );
    assert_eq!((stats.inferences, stats.dead_letters), (15, 1));
}

/// Fails the first `transient` calls, panics on -1, returns no predictions for a batch with -2.
struct Flaky {
    calls: AtomicUsize,
    transient: usize,
    config: BatchConfig,
}

impl ModelHandler for Flaky {
    type Example = i32;
    type Prediction = i32;
    type Model = ();
    type Args = ();

    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn run_inference(&self, batch: &[&i32], _: &(), _: &()) -> Result<Vec<i32>, HandlerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.transient {
            return Err(HandlerError::inference("endpoint busy"));
        }
        if batch.iter().any(|&&x| x == -1) {
            panic!("kernel crashed on -1");
        }
        if batch.iter().any(|&&x| x == -2) {
            return Ok(Vec::new()); // no predictions at all
        }
        Ok(batch.iter().map(|&&x| x * 10).collect())
    }

    fn batch_config(&self) -> BatchConfig {
        self.config.clone()
    }
}

fn flaky(transient: usize, retry: RetryPolicy) -> Flaky {
    let config = BatchConfig {
        max_batch_size: 4,
        retry,
        ..Default::default()
    };
    Flaky {
        calls: AtomicUsize::new(0),
        transient,
        config,
    }
}

#[test]
fn panics_and_wrong_output_counts_fail_only_their_element() {
    let clock = ManualClock::new();
    let handler = Arc::new(flaky(0, RetryPolicy::default()));
    let mut engine = InferenceEngine::new(handler, (), options("flaky", &clock)).unwrap();
    let mut out = engine.push(1);
    for x in [-1, 3, 4, 5, -2, 7, 8] {
        out.extend(engine.push(x));
    }
    let mut served: Vec<i32> = out.results.iter().map(|r| r.inference).collect();
    served.sort();
    assert_eq!(served, vec![10, 30, 40, 50, 70, 80]);
    let mut errors: Vec<(i32, HandlerError)> = out
        .dead_letters
        .into_iter()
        .map(|d| (d.example, d.error))
        .collect();
    errors.sort_by_key(|(x, _)| *x);
    assert_eq!(
        errors[0],
        (
            -2,
            HandlerError::OutputCount {
                expected: 1,
                got: 0
            }
        )
    );
    assert_eq!(errors[1].0, -1);
    assert!(matches!(&errors[1].1, HandlerError::Panicked { message } if message.contains("-1")));
}

#[test]
fn transient_failures_are_retried_with_backoff_before_bisection() {
    let clock = ManualClock::new();
    let retry = RetryPolicy {
        transient_retries: 2,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    };
    let handler = Arc::new(flaky(2, retry));
    let mut engine = InferenceEngine::new(handler.clone(), (), options("retry", &clock)).unwrap();
    let mut out = engine.push(1);
    for x in 2..=4 {
        out.extend(engine.push(x));
    }
    assert_eq!(out.results.len(), 4);
    assert!(out.dead_letters.is_empty());
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );
    assert_eq!(
        clock.elapsed(),
        Duration::from_millis(300),
        "waited 100 ms then 200 ms"
    );
}

#[test]
fn loading_failure_is_reported_once_and_every_element_dead_lettered() {
    let dir = temp_dir("load-failure");
    let missing = dir.join("missing.safetensors");
    let clock = ManualClock::new();
    let opts = options("broken", &clock);
    let handler = Arc::new(Linear::new(
        &missing,
        BatchConfig {
            max_batch_size: 2,
            ..Default::default()
        },
    ));
    // Two workers of the step share the registry and the metrics.
    let mut a = InferenceEngine::new(handler.clone(), (), opts.clone()).unwrap();
    let mut b = InferenceEngine::new(handler.clone(), (), opts).unwrap();
    let err = a.ensure_loaded().unwrap_err();
    assert!(
        matches!(&err, HandlerError::Load { model_id, .. } if model_id.ends_with("missing.safetensors"))
    );
    let mut dead = Vec::new();
    for i in 0..5 {
        dead.extend(a.push(ex(i as f32)).dead_letters);
        dead.extend(b.push(ex(i as f32)).dead_letters);
    }
    dead.extend(a.flush().dead_letters);
    dead.extend(b.flush().dead_letters);
    assert_eq!(dead.len(), 10);
    assert!(dead.iter().all(|d| d.error == err));
    assert_eq!(
        handler.loads.load(Ordering::SeqCst),
        1,
        "one load attempt for both workers"
    );
    let report = a.metrics().report();
    let stats = report
        .get("broken", &missing.display().to_string())
        .unwrap();
    assert_eq!(
        (stats.load_failures, stats.dead_letters, stats.batches),
        (1, 10, 0)
    );
}

/// For batches containing 0, moves the engine's manual clock past the batch timeout (the call
/// "hangs" in the clock's time) and then blocks on a gate until the test releases it. Other
/// batches return at once and never move the clock, so they cannot time out however slowly a
/// loaded machine runs them: the outcome depends only on the injected clock.
struct Hanging {
    gate: Mutex<mpsc::Receiver<()>>,
    clock: ManualClock,
}

impl ModelHandler for Hanging {
    type Example = i32;
    type Prediction = i32;
    type Model = ();
    type Args = ();

    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn run_inference(&self, batch: &[&i32], _: &(), _: &()) -> Result<Vec<i32>, HandlerError> {
        if batch.iter().any(|&&x| x == 0) {
            self.clock.advance(Duration::from_millis(21));
            let gate = self.gate.lock().map_err(HandlerError::inference)?;
            let _ = gate.recv();
        }
        Ok(batch.iter().map(|&&x| x + 1).collect())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 2,
            // Long enough that only a full batch (or a poll for the stuck one) runs anything.
            max_wait: Duration::from_secs(3600),
            batch_timeout: Some(Duration::from_millis(20)),
            ..Default::default()
        }
    }
}

#[test]
fn timed_out_batch_is_dead_lettered_and_loses_nothing() {
    let (release, gate) = mpsc::channel();
    let clock = ManualClock::new();
    let handler = Arc::new(Hanging {
        gate: Mutex::new(gate),
        clock: clock.clone(),
    });
    let mut engine = InferenceEngine::new(handler, (), options("hang", &clock)).unwrap();
    let mut out = engine.push(0);
    out.extend(engine.push(1)); // [0, 1] hangs past the timeout and is set aside
    assert_eq!(engine.buffered(), 2);
    // Asks to be polled soon (in the future, within a second) until the batch returns ...
    let soon = |engine: &InferenceEngine<Hanging>| {
        let d = engine
            .next_deadline()
            .expect("a deadline while a batch is stuck");
        assert!(
            d > clock.now() && d <= clock.now() + Duration::from_secs(1),
            "stuck-batch poll at {:?} from now",
            d.checked_duration_since(clock.now())
        );
    };
    soon(&engine);
    out.extend(engine.push(2));
    // ... even while a bucket waits for its (hour-long) max_wait: the earlier deadline wins.
    soon(&engine);
    out.extend(engine.push(3)); // [2, 3] runs normally meanwhile
    assert_eq!(
        out.results.iter().map(|r| r.inference).collect::<Vec<_>>(),
        vec![3, 4]
    );
    release.send(()).unwrap();
    out.extend(engine.flush());
    let mut dead: Vec<i32> = out.dead_letters.iter().map(|d| d.example).collect();
    dead.sort();
    assert_eq!(dead, vec![0, 1]);
    assert!(out
        .dead_letters
        .iter()
        .all(|d| matches!(d.error, HandlerError::Timeout { .. })));
    assert_eq!(engine.buffered(), 0);
}

/// Fails every batch with a batch-wide error (`Unavailable`), counting the calls.
struct AlwaysUnavailable {
    calls: AtomicUsize,
}

impl ModelHandler for AlwaysUnavailable {
    type Example = i32;
    type Prediction = i32;
    type Model = ();
    type Args = ();

    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn run_inference(&self, _: &[&i32], _: &(), _: &()) -> Result<Vec<i32>, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(HandlerError::Unavailable {
            reason: "service down".into(),
        })
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 8,
            ..Default::default()
        }
    }
}

/// A whole batch failing with a batch-wide error is dead-lettered at once: one call, never
/// bisected (bisecting would only repeat the outage 2n − 1 times). Without the guard on the
/// first call the halves are tried too (cargo-mutants found no test for it).
#[test]
fn a_batch_wide_error_on_the_whole_batch_is_not_bisected() {
    let clock = ManualClock::new();
    let handler = Arc::new(AlwaysUnavailable {
        calls: AtomicUsize::new(0),
    });
    let mut engine =
        InferenceEngine::new(handler.clone(), (), options("unavailable", &clock)).unwrap();
    let mut out = tandem_handler::Completed::default();
    for x in 0..8 {
        out.extend(engine.push(x));
    }
    out.extend(engine.flush());
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "one call, no bisection"
    );
    let mut dead: Vec<i32> = out.dead_letters.iter().map(|d| d.example).collect();
    dead.sort();
    assert_eq!(dead, (0..8).collect::<Vec<_>>());
    assert!(out.results.is_empty());
}

/// Fails a full batch of 8 with an ordinary (bisectable) error; of the two halves, the one
/// holding 0 fails with a batch-wide error (`Unavailable`), the other succeeds.
struct WideInHalf {
    calls: AtomicUsize,
}

impl ModelHandler for WideInHalf {
    type Example = i32;
    type Prediction = i32;
    type Model = ();
    type Args = ();

    fn load_model(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn run_inference(&self, batch: &[&i32], _: &(), _: &()) -> Result<Vec<i32>, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if batch.len() == 8 {
            return Err(HandlerError::inference("one bad element somewhere"));
        }
        if batch.iter().any(|&&x| x == 0) {
            return Err(HandlerError::Unavailable {
                reason: "service down".into(),
            });
        }
        Ok(batch.iter().map(|&&x| x * 10).collect())
    }

    fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: 8,
            ..Default::default()
        }
    }
}

/// Bisection stops at a batch-wide error: the half that failed that way is dead-lettered as a
/// whole (bisecting it would only repeat the failure), the other half is served. Exactly three
/// calls: the batch and its two halves.
#[test]
fn a_batch_wide_error_stops_bisection() {
    let clock = ManualClock::new();
    let handler = Arc::new(WideInHalf {
        calls: AtomicUsize::new(0),
    });
    let mut engine = InferenceEngine::new(handler.clone(), (), options("wide", &clock)).unwrap();
    let mut out = tandem_handler::Completed::default();
    for x in 0..8 {
        out.extend(engine.push(x));
    }
    out.extend(engine.flush());
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        3,
        "batch + two halves"
    );
    let mut dead: Vec<i32> = out.dead_letters.iter().map(|d| d.example).collect();
    dead.sort();
    assert_eq!(dead, vec![0, 1, 2, 3]);
    assert!(out
        .dead_letters
        .iter()
        .all(|d| matches!(d.error, HandlerError::Unavailable { .. })));
    let served: Vec<i32> = out.results.iter().map(|r| r.inference).collect();
    assert_eq!(served, vec![40, 50, 60, 70]);
}
