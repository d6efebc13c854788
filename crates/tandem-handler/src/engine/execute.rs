//! Running one batch: panics caught, output counts checked, retries with back-off, bisection of
//! failed batches, and the batch timeout.

use crate::config::BatchConfig;
use crate::error::{panic_message, HandlerError};
use crate::handler::{ModelHandler, PredictionResult};
use crate::metrics::MetricKey;
use crate::output::Completed;
use crate::registry::ModelLease;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use super::buckets::BucketKey;
use super::InferenceEngine;

/// Longest real wait between two readings of the engine's clock while a timed call runs.
const WAIT_SLICE: Duration = Duration::from_millis(5);

type Outcome<E, P> = (Vec<E>, Result<Vec<P>, HandlerError>);

/// A call that returned in time, or the receiver its late outcome will arrive on.
type TimedCall<E, P> = Result<Outcome<E, P>, Receiver<Outcome<E, P>>>;

/// A batch that outlived its timeout. Its thread still owns the examples; when it returns them
/// they are dead-lettered, so even a hung batch loses no element (`flush` waits for it).
pub(crate) struct StuckBatch<E, P> {
    returned: Receiver<Outcome<E, P>>,
    len: usize,
    limit: Duration,
    model_id: Arc<str>,
}

impl<E, P> StuckBatch<E, P> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

enum Call<E, P> {
    Done(Vec<E>, Result<Vec<P>, HandlerError>),
    Stuck,
}

type Lease<H> = Arc<ModelLease<<H as ModelHandler>::Model>>;

impl<H: ModelHandler> InferenceEngine<H> {
    /// Runs a batch to completion: every element ends as a result or a dead letter (or, for a
    /// timed-out batch, is tracked until its thread gives it back).
    pub(super) fn run_batch(
        &mut self,
        key: BucketKey,
        batch: Vec<H::Example>,
        out: &mut Completed<H::Example, H::Prediction>,
    ) {
        let group = key.0;
        let cfg = match self.config(group) {
            Ok(cfg) => cfg,
            Err(error) => {
                let model_id = self.model_id_for(group);
                return self.dead_letter_all(batch, error, &model_id, out);
            }
        };
        let lease = match self.lease() {
            Ok(lease) => Arc::new(lease),
            Err((error, model_id)) => {
                let model_id = self
                    .handler
                    .group_model_id(group)
                    .map_or(model_id, Arc::from);
                return self.dead_letter_all(batch, error, &model_id, out);
            }
        };
        let model_id: Arc<str> = self
            .handler
            .group_model_id(group)
            .map_or_else(|| lease.model_id().clone(), Arc::from);
        let mut batch = batch;
        let mut attempt = 0;
        loop {
            match self.call(key, &lease, batch, &cfg, &model_id) {
                Call::Stuck => return,
                Call::Done(examples, Ok(predictions)) => {
                    return self.emit(examples, predictions, &model_id, out)
                }
                Call::Done(examples, Err(error)) if error.is_batch_wide() => {
                    return self.dead_letter_all(examples, error, &model_id, out)
                }
                // The same size would run out of memory again: split at once.
                Call::Done(examples, Err(error)) if error.is_out_of_memory() => {
                    return self.bisect(key, &lease, examples, error, &cfg, &model_id, out)
                }
                Call::Done(examples, Err(_)) if attempt < cfg.retry.transient_retries => {
                    attempt += 1;
                    self.options.clock.sleep(cfg.retry.delay(attempt));
                    batch = examples;
                }
                Call::Done(examples, Err(error)) => {
                    return self.bisect(key, &lease, examples, error, &cfg, &model_id, out)
                }
            }
        }
    }

    /// Splits a failed batch in halves and runs each, recursively, until every failing element
    /// is alone: `log2(n)` extra calls per poison element, and its batch-mates are served. A
    /// batch that ran out of memory is split the same way, so its elements are served by
    /// calls small enough to fit.
    #[allow(clippy::too_many_arguments)]
    fn bisect(
        &mut self,
        key: BucketKey,
        lease: &Lease<H>,
        mut examples: Vec<H::Example>,
        error: HandlerError,
        cfg: &BatchConfig,
        model_id: &Arc<str>,
        out: &mut Completed<H::Example, H::Prediction>,
    ) {
        if examples.len() <= 1 {
            return self.dead_letter_all(examples, error, model_id, out);
        }
        let right = examples.split_off(examples.len() / 2);
        for half in [examples, right] {
            match self.call(key, lease, half, cfg, model_id) {
                Call::Stuck => {}
                Call::Done(half, Ok(predictions)) => self.emit(half, predictions, model_id, out),
                Call::Done(half, Err(e)) if e.is_batch_wide() => {
                    self.dead_letter_all(half, e, model_id, out)
                }
                Call::Done(half, Err(e)) => self.bisect(key, lease, half, e, cfg, model_id, out),
            }
        }
    }

    /// One `run_inference` call, timed and recorded; on a helper thread when a timeout is set.
    fn call(
        &mut self,
        key: BucketKey,
        lease: &Lease<H>,
        batch: Vec<H::Example>,
        cfg: &BatchConfig,
        model_id: &Arc<str>,
    ) -> Call<H::Example, H::Prediction> {
        let size = batch.len();
        let started = self.options.clock.now();
        let (examples, result) = match cfg.batch_timeout {
            None => {
                let result = invoke(&*self.handler, &batch, lease.model(), &self.args);
                (batch, result)
            }
            Some(limit) => match self.call_with_timeout(lease, batch, limit) {
                Ok(outcome) => outcome,
                Err(returned) => {
                    let metric = self.metric_key(model_id);
                    self.options
                        .metrics
                        .record_batch(&metric, size, limit, false);
                    self.stuck.push(StuckBatch {
                        returned,
                        len: size,
                        limit,
                        model_id: model_id.clone(),
                    });
                    return Call::Stuck;
                }
            },
        };
        let took = self.options.clock.now().saturating_duration_since(started);
        let metric = self.metric_key(model_id);
        self.options
            .metrics
            .record_batch(&metric, size, took, result.is_ok());
        match &result {
            Ok(_) => self.estimators.entry(key).or_default().observe(size, took),
            Err(e) if e.is_out_of_memory() => {
                self.estimators
                    .entry(key)
                    .or_default()
                    .observe_out_of_memory(size);
                self.options
                    .metrics
                    .record(&self.options.step, model_id, &self.namespace, |s| {
                        s.out_of_memory_batches += 1
                    });
            }
            Err(_) => {}
        }
        Call::Done(examples, result)
    }

    /// Runs the batch on a fresh thread and waits up to `limit` on the engine's clock (a running
    /// call cannot be interrupted, only abandoned). On timeout returns the receiver that will get
    /// the examples back when the call finally ends.
    fn call_with_timeout(
        &mut self,
        lease: &Lease<H>,
        batch: Vec<H::Example>,
        limit: Duration,
    ) -> TimedCall<H::Example, H::Prediction> {
        let (job_tx, job_rx) = mpsc::channel::<Vec<H::Example>>();
        let (done_tx, done_rx) = mpsc::channel();
        let handler = self.handler.clone();
        let args = self.args.clone();
        let thread_lease = lease.clone();
        let spawned = std::thread::Builder::new()
            .name("tandem-inference".into())
            .spawn(move || {
                if let Ok(batch) = job_rx.recv() {
                    let result = invoke(&*handler, &batch, thread_lease.model(), &args);
                    drop(thread_lease);
                    let _ = done_tx.send((batch, result));
                }
            });
        if let Err(spawn_error) = spawned {
            // The job channel's receiver died with the closure: the batch comes back to us.
            let error =
                HandlerError::inference(format!("cannot start inference thread: {spawn_error}"));
            return match job_tx.send(batch) {
                Err(mpsc::SendError(batch)) => Ok((batch, Err(error))),
                Ok(()) => Err(done_rx),
            };
        }
        if let Err(mpsc::SendError(batch)) = job_tx.send(batch) {
            let error = HandlerError::inference("inference thread exited before its batch");
            return Ok((batch, Err(error)));
        }
        // `limit` is measured on the injected clock (so a test's manual clock decides whether a
        // call overran, not the machine's load); the real wait is sliced so a clock that jumps
        // is noticed within `WAIT_SLICE`.
        let deadline = self.options.clock.now() + limit;
        loop {
            let left = deadline.saturating_duration_since(self.options.clock.now());
            if left.is_zero() {
                return Err(done_rx);
            }
            match done_rx.recv_timeout(left.min(WAIT_SLICE)) {
                Ok(outcome) => return Ok(outcome),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(done_rx),
            }
        }
    }

    /// Dead-letters the examples of timed-out batches whose threads have returned; with `block`,
    /// waits for all of them.
    pub(super) fn collect_stuck(
        &mut self,
        out: &mut Completed<H::Example, H::Prediction>,
        block: bool,
    ) {
        for stuck in std::mem::take(&mut self.stuck) {
            let returned = if block {
                stuck.returned.recv().ok()
            } else {
                match stuck.returned.try_recv() {
                    Ok(outcome) => Some(outcome),
                    Err(TryRecvError::Empty) => {
                        self.stuck.push(stuck);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => None,
                }
            };
            if let Some((examples, _ignored_late_result)) = returned {
                let error = HandlerError::Timeout {
                    batch_size: stuck.len,
                    limit: stuck.limit,
                };
                self.dead_letter_all(examples, error, &stuck.model_id, out);
            }
        }
    }

    fn emit(
        &self,
        examples: Vec<H::Example>,
        predictions: Vec<H::Prediction>,
        model_id: &Arc<str>,
        out: &mut Completed<H::Example, H::Prediction>,
    ) {
        let n = examples.len() as u64;
        self.options
            .metrics
            .record(&self.options.step, model_id, &self.namespace, |s| {
                s.inferences += n
            });
        out.results.extend(
            examples
                .into_iter()
                .zip(predictions)
                .map(|(example, inference)| PredictionResult {
                    example,
                    inference,
                    model_id: model_id.clone(),
                }),
        );
    }

    fn metric_key<'a>(&'a self, model_id: &'a str) -> MetricKey<'a> {
        MetricKey {
            step: &self.options.step,
            model_id,
            namespace: &self.namespace,
        }
    }
}

/// Calls `run_inference` with a panic guard and checks one prediction per example.
fn invoke<H: ModelHandler>(
    handler: &H,
    batch: &[H::Example],
    model: &H::Model,
    args: &H::Args,
) -> Result<Vec<H::Prediction>, HandlerError> {
    let refs: Vec<&H::Example> = batch.iter().collect();
    let result = catch_unwind(AssertUnwindSafe(|| {
        handler.run_inference(&refs, model, args)
    }))
    .unwrap_or_else(|payload| {
        Err(HandlerError::Panicked {
            message: panic_message(payload.as_ref()),
        })
    })?;
    if result.len() != batch.len() {
        return Err(HandlerError::OutputCount {
            expected: batch.len(),
            got: result.len(),
        });
    }
    Ok(result)
}
