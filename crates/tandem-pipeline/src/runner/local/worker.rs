//! The loop one worker thread runs for one instance of a (non-source) step.
//!
//! Bundles: `start_bundle` before a bundle's first element, `finish_bundle` after
//! `bundle_size` elements and at end of input. Timers: before each wait the worker asks the
//! step for its next deadline, calls `on_deadline` if it has passed, and otherwise waits for
//! input no longer than that deadline, so a batching step is woken when input goes quiet.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::element::panic_message;
use crate::error::Error;
use crate::exec::{Exec, Outputs, ProcessError};
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::router::{Msg, Router};
use crate::runner::local::shared::Stop;

/// Shortest pause between two `on_deadline` calls when the deadline does not move forward.
const MIN_TIMER_GAP: Duration = Duration::from_millis(1);

pub(crate) struct Worker {
    pub(crate) exec: Box<dyn Exec>,
    pub(crate) input: Receiver<Msg>,
    pub(crate) router: Router,
    pub(crate) bundle_size: usize,
    pub(crate) metrics: WorkerMetrics,
    pub(crate) out: Outputs,
}

impl Worker {
    fn step_failed(&self, phase: &'static str, message: String) -> Stop {
        self.router.shared.fail(Error::StepFailed {
            step: self.router.step.clone(),
            phase,
            message,
        });
        Stop
    }

    /// Runs a lifecycle hook with timing and a panic guard (built-in steps do not catch their
    /// own panics), then publishes what it produced.
    fn hook(
        &mut self,
        phase: &'static str,
        f: impl FnOnce(&mut dyn Exec, &mut Outputs) -> Result<(), String>,
    ) -> Result<(), Stop> {
        let start = Instant::now();
        let exec = &mut *self.exec;
        let out = &mut self.out;
        let result = catch_unwind(AssertUnwindSafe(|| f(exec, out)));
        self.metrics.busy += start.elapsed();
        match result {
            Ok(Ok(())) => self.router.publish(&mut self.out, &mut self.metrics),
            Ok(Err(message)) => Err(self.step_failed(phase, message)),
            Err(payload) => Err(self.step_failed(phase, panic_message(payload.as_ref()))),
        }
    }

    fn process(&mut self, (port, elem): Msg) -> Result<(), Stop> {
        if let Some(c) = self.metrics.inp.get_mut(port) {
            *c += 1;
        }
        let start = Instant::now();
        let exec = &mut *self.exec;
        let out = &mut self.out;
        let result = catch_unwind(AssertUnwindSafe(|| exec.process(port, elem, out)));
        self.metrics.busy += start.elapsed();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(ProcessError::Element(failure))) => self.out.failures.push(failure),
            Ok(Err(ProcessError::Step { phase, message })) => {
                return Err(self.step_failed(phase, message))
            }
            Err(payload) => {
                return Err(self.step_failed("process", panic_message(payload.as_ref())))
            }
        }
        self.router.publish(&mut self.out, &mut self.metrics)
    }

    fn main_loop(&mut self) -> Result<(), Stop> {
        let mut in_bundle = 0usize;
        loop {
            if self.router.shared.aborted() {
                return Err(Stop);
            }
            let mut deadline = self.exec.next_deadline();
            if deadline.is_some_and(|d| d <= Instant::now()) {
                self.hook("on_deadline", |e, o| e.on_deadline(o))?;
                // A step whose deadline stays in the past must not starve its input: look
                // at the input for a moment before calling it again.
                deadline = self
                    .exec
                    .next_deadline()
                    .map(|d| d.max(Instant::now() + MIN_TIMER_GAP));
            }
            let msg = match deadline {
                Some(d) => self.input.recv_deadline(d),
                None => self
                    .input
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(msg) => {
                    self.metrics.max_queued = self.metrics.max_queued.max(self.input.len());
                    if in_bundle == 0 {
                        self.hook("start_bundle", |e, o| e.start_bundle(o))?;
                    }
                    self.process(msg)?;
                    in_bundle += 1;
                    if in_bundle >= self.bundle_size {
                        self.hook("finish_bundle", |e, o| e.finish_bundle(o))?;
                        in_bundle = 0;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if in_bundle > 0 {
            self.hook("finish_bundle", |e, o| e.finish_bundle(o))?;
        }
        self.hook("end_of_input", |e, o| e.end_of_input(o))
    }

    /// Runs the instance to the end of its input (or until the run aborts) and returns its
    /// counters.
    pub(crate) fn run(mut self) -> WorkerMetrics {
        if self.hook("setup", |e, _| e.setup()).is_ok() {
            let _ = self.main_loop();
        }
        let exec = &mut *self.exec;
        let _ = catch_unwind(AssertUnwindSafe(|| exec.teardown()));
        self.metrics
    }
}
