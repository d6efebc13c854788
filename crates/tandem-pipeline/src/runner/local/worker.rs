//! The loop one worker thread runs for one instance of a (non-source) step.
//!
//! It drives the [`Executor`] exactly as that trait's contract states: bundles (closed after
//! `bundle_size` elements, after `max_bundle_time` even if input goes quiet, and when the
//! input completes), timers from `next_deadline`, and progress: after every call it records the instance's hold, releases
//! the element it processed only once that element's outputs are counted downstream, and
//! reads its input watermark, calling `on_watermark` as it advances. The instance ends when
//! its input watermark reaches `Timestamp::MAX`, not when a channel closes, so a source that
//! is blocked reading (stdin) cannot keep a stopped run alive.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::element::panic_message;
use crate::error::Error;
use crate::runner::api::{Executor, Outputs, ProcessError};
use crate::runner::local::inbox::{Event, Inbox};
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::progress::{hold, input, Progress, LIVE};
use crate::runner::local::router::{Msg, Router};
use crate::runner::local::shared::Stop;
use crate::timestamp::Timestamp;

/// Shortest pause between two `on_deadline` calls when the deadline does not move forward.
const MIN_TIMER_GAP: Duration = Duration::from_millis(1);

pub(crate) struct Worker {
    pub(crate) step: usize,
    pub(crate) exec: Box<dyn Executor>,
    /// Its input and wake channels.
    pub(crate) inbox: Inbox,
    pub(crate) router: Router,
    pub(crate) progress: Arc<Progress>,
    pub(crate) bundle_size: usize,
    /// A bundle open this long is finished even if input goes quiet.
    pub(crate) max_bundle_time: Duration,
    pub(crate) metrics: WorkerMetrics,
    pub(crate) out: Outputs,
    /// The hold currently registered for this instance.
    pub(crate) held_at: Option<Timestamp>,
    /// The input watermark last acted on.
    pub(crate) watermark: Timestamp,
}

impl Worker {
    fn step_failed(&self, phase: &'static str, message: String) -> Stop {
        self.router.shared.fail(Error::StepFailed {
            step: self.router.step.clone(),
            phase,
            message,
        });
        self.progress.wake_all();
        Stop
    }

    /// Registers the executor's current hold in the tracker (new before old).
    fn sync_hold(&mut self) {
        let now = catch_unwind(AssertUnwindSafe(|| self.exec.hold())).unwrap_or(None);
        self.metrics.max_held = self
            .metrics
            .max_held
            .max(catch_unwind(AssertUnwindSafe(|| self.exec.held())).unwrap_or(0));
        if now == self.held_at {
            return;
        }
        let mut changes = Vec::with_capacity(2);
        if let Some(t) = now {
            changes.push((hold(self.step), t, 1));
        }
        if let Some(t) = self.held_at {
            changes.push((hold(self.step), t, -1));
        }
        self.progress.update(&changes);
        self.held_at = now;
    }

    /// Runs a lifecycle hook with timing and a panic guard (built-in steps do not catch their
    /// own panics), publishes what it produced and records the new hold.
    fn hook(
        &mut self,
        phase: &'static str,
        f: impl FnOnce(&mut dyn Executor, &mut Outputs) -> Result<(), String>,
    ) -> Result<(), Stop> {
        let start = Instant::now();
        let exec = &mut *self.exec;
        let out = &mut self.out;
        let result = catch_unwind(AssertUnwindSafe(|| f(exec, out)));
        self.metrics.busy += start.elapsed();
        match result {
            Ok(Ok(())) => {
                self.router.publish(&mut self.out, &mut self.metrics)?;
                self.sync_hold();
                Ok(())
            }
            Ok(Err(message)) => Err(self.step_failed(phase, message)),
            Err(payload) => Err(self.step_failed(phase, panic_message(payload.as_ref()))),
        }
    }

    fn process(&mut self, (port, elem): Msg) -> Result<(), Stop> {
        if let Some(c) = self.metrics.inp.get_mut(port) {
            *c += 1;
        }
        let t = elem.timestamp;
        let start = Instant::now();
        let exec = &mut *self.exec;
        let out = &mut self.out;
        let result = catch_unwind(AssertUnwindSafe(|| exec.process(port, elem, out)));
        self.metrics.busy += start.elapsed();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(ProcessError::Element(failure))) => self.out.push_failure(failure),
            Ok(Err(ProcessError::Step { phase, message })) => {
                return Err(self.step_failed(phase, message))
            }
            Err(payload) => {
                return Err(self.step_failed("process", panic_message(payload.as_ref())))
            }
        }
        self.router.publish(&mut self.out, &mut self.metrics)?;
        self.sync_hold();
        // Only now may the watermark pass this element: its outputs are counted downstream
        // and anything it left behind is in the hold.
        self.progress.update(&[(input(self.step), t, -1)]);
        Ok(())
    }

    fn main_loop(&mut self) -> Result<(), Stop> {
        let mut in_bundle = 0usize;
        let mut bundle_started = Instant::now();
        let observes = self.exec.observes_watermark();
        loop {
            if self.router.shared.aborted() {
                return Err(Stop);
            }
            let watermark = self.progress.watermark(self.step).max(self.watermark);
            if watermark.is_max() {
                break;
            }
            if watermark > self.watermark {
                self.watermark = watermark;
                if observes {
                    self.hook("on_watermark", |e, o| e.on_watermark(watermark, o))?;
                }
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
            if in_bundle > 0 {
                let close_at = bundle_started + self.max_bundle_time;
                if close_at <= Instant::now() {
                    self.hook("finish_bundle", |e, o| e.finish_bundle(o))?;
                    in_bundle = 0;
                    continue;
                }
                deadline = Some(deadline.map_or(close_at, |d| d.min(close_at)));
            }
            match self.inbox.next(deadline) {
                Event::Element(msg) => {
                    self.metrics.max_queued = self.metrics.max_queued.max(self.inbox.queued());
                    if in_bundle == 0 {
                        bundle_started = Instant::now();
                        self.hook("start_bundle", |e, o| e.start_bundle(o))?;
                    }
                    self.process(msg)?;
                    in_bundle += 1;
                    if in_bundle >= self.bundle_size {
                        self.hook("finish_bundle", |e, o| e.finish_bundle(o))?;
                        in_bundle = 0;
                    }
                }
                Event::Woken | Event::Timeout => {}
            }
        }
        if in_bundle > 0 {
            self.hook("finish_bundle", |e, o| e.finish_bundle(o))?;
        }
        self.watermark = Timestamp::MAX;
        self.hook("on_watermark", |e, o| e.on_watermark(Timestamp::MAX, o))
    }

    /// Runs the instance to the end of its input (or until the run aborts) and returns its
    /// counters.
    pub(crate) fn run(mut self) -> WorkerMetrics {
        if self.hook("setup", |e, _| e.setup()).is_ok() {
            // User code also runs outside the executor's calls (an element's `Clone` when a
            // collection has several readers, a key's `Hash` when routing by key): a panic
            // there fails the run; the holds below are released either way.
            let looped = catch_unwind(AssertUnwindSafe(|| self.main_loop()));
            if let Err(payload) = looped {
                let _ = self.step_failed("routing", panic_message(payload.as_ref()));
            }
        }
        let exec = &mut *self.exec;
        let _ = catch_unwind(AssertUnwindSafe(|| exec.teardown()));
        // Whatever it still held can no longer be emitted; it makes no more calls.
        let mut release = vec![(hold(self.step), LIVE, -1)];
        if let Some(t) = self.held_at.take() {
            release.push((hold(self.step), t, -1));
        }
        self.progress.update(&release);
        self.metrics
    }
}
