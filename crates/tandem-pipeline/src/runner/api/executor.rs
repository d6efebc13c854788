//! [`Executor`]: the type-erased interface every non-source step compiles to, and
//! [`Outputs`], the buffer one call into it writes.
//!
//! Independent of threads and channels: the local runner and a distributed runner drive the
//! same executor instances. Typed user code (`DoFn`s, closures, sinks, groupers) is adapted to
//! it in the transform modules.

use std::any::TypeId;
use std::time::Instant;

use crate::element::{AnyBox, Element};
use crate::timestamp::Timestamp;
use crate::window::{Window, Windowing};

/// What a step's instance is told when it is created (see
/// [`StepView::context`](crate::runner::api::StepView::context)).
#[derive(Clone, Debug)]
pub struct ExecContext {
    /// The step's name, for dead letters and errors.
    pub(crate) step: String,
    /// Declared tagged outputs: name, port, element type.
    pub(crate) tags: Vec<(String, usize, TypeId)>,
    /// Windowing of the step's first input (grouping steps fire by it).
    pub(crate) windowing: Windowing,
    /// This instance's index among the step's instances.
    pub(crate) worker: usize,
    /// How many instances of the step run.
    pub(crate) workers: usize,
}

impl ExecContext {
    /// Port of tag `tag` if it was declared with element type `ty`.
    pub(crate) fn tag_port(&self, tag: &str, ty: TypeId) -> Option<usize> {
        self.tags
            .iter()
            .find(|(t, _, tid)| t == tag && *tid == ty)
            .map(|(_, p, _)| *p)
    }

    /// The step's name.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// This instance's index and the number of instances.
    pub fn worker(&self) -> (usize, usize) {
        (self.worker, self.workers)
    }
}

/// One element that user code failed on. The runner sends `dead_letter` to the step's
/// dead-letter port ([`StepView::dead_letter_port`](crate::runner::api::StepView::dead_letter_port))
/// or, when the step has none, fails the run with `element` and `message`.
pub struct Failure {
    /// A `Failed<I>` record, ready for the dead-letter output.
    pub dead_letter: AnyBox,
    /// The element's `Debug` text, for the error when there is no dead-letter output.
    pub element: String,
    /// The error or panic message.
    pub message: String,
    /// Event time of the failed element (the dead letter keeps it).
    pub timestamp: Timestamp,
    /// Window of the failed element.
    pub window: Window,
}

/// Counters one call into an executor produced, besides elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputCounts {
    /// Input elements a filter deliberately dropped.
    pub filtered: u64,
    /// Elements a sink wrote.
    pub written: u64,
    /// Elements that arrived after their window had closed (emitted as late panes).
    pub late: u64,
}

/// Buffer of everything one call into an [`Executor`] produced. The runner drains it after
/// the call returns, so an element's outputs are published only if the element succeeded.
#[derive(Default)]
pub struct Outputs {
    pub(crate) pending: Vec<(usize, Element)>,
    pub(crate) failures: Vec<Failure>,
    /// Timestamp and window of the element being processed (outputs inherit them); in hooks
    /// without an element, of the last one seen.
    pub(crate) current: Option<(Timestamp, Window)>,
    pub(crate) counts: OutputCounts,
    /// Set when user code emitted to a tag the step did not declare.
    pub(crate) misuse: Option<String>,
}

impl Outputs {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves out the elements produced, each with its output port.
    pub fn take_elements(&mut self) -> Vec<(usize, Element)> {
        std::mem::take(&mut self.pending)
    }

    /// Moves out the failed input elements.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// Records a failure returned by [`Executor::process`] so it is routed with the rest.
    pub fn push_failure(&mut self, failure: Failure) {
        self.failures.push(failure);
    }

    /// Moves out the counters.
    pub fn take_counts(&mut self) -> OutputCounts {
        std::mem::take(&mut self.counts)
    }

    /// Emits `value` on `port` with the current element's timestamp and window.
    pub(crate) fn push(&mut self, port: usize, value: AnyBox) {
        let (timestamp, window) = self.current.unwrap_or((Timestamp::MIN, Window::Global));
        self.pending.push((
            port,
            Element {
                value,
                timestamp,
                window,
            },
        ));
    }

    /// Emits a fully specified element on `port`.
    pub(crate) fn push_element(&mut self, port: usize, element: Element) {
        self.pending.push((port, element));
    }
}

/// Why processing one element did not succeed.
pub enum ProcessError {
    /// The element failed; it goes to the dead-letter output or fails the run.
    Element(Failure),
    /// The step itself is broken (e.g. re-running `setup` after a panic failed): the run fails.
    Step {
        /// The lifecycle phase, e.g. `"process"`.
        phase: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// One instance of a step. A runner creates one per worker with
/// [`Graph::instantiate`](crate::Graph::instantiate); calls on one instance are sequential.
///
/// The runner's contract (what [`LocalRunner`](crate::LocalRunner) does, and what any other
/// runner must do for the transforms to behave):
/// 1. `setup` once; an error fails the run.
/// 2. Elements arrive through `process`, grouped in bundles: `start_bundle` before a bundle's
///    first element, `finish_bundle` after its last. Bundle size is the runner's choice.
/// 3. After every call, drain [`Outputs`]: route elements to the consumers of each output
///    port, failures to the dead-letter port, and record the counters.
/// 4. **Progress**: after every call, read [`hold`](Executor::hold). The output watermark of
///    the instance is `min(input watermark, hold)`; an element being processed holds its own
///    timestamp until its outputs have been routed.
/// 5. When the input watermark advances and [`observes_watermark`](Executor::observes_watermark)
///    is true, call [`on_watermark`](Executor::on_watermark) with it. When the input is
///    complete (watermark [`Timestamp::MAX`]): `finish_bundle` if a bundle is open, then
///    `on_watermark(Timestamp::MAX)` whether or not it observes watermarks, then `teardown`.
/// 6. Call [`on_deadline`](Executor::on_deadline) once the instant from
///    [`next_deadline`](Executor::next_deadline) has passed, even if no input arrives.
pub trait Executor: Send {
    /// Builds per-instance state (a loaded model).
    fn setup(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Before a bundle's first element.
    fn start_bundle(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// Processes one element arriving on input `port`.
    fn process(
        &mut self,
        port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError>;
    /// After a bundle's last element (and before the final watermark).
    fn finish_bundle(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// When the step next wants [`Executor::on_deadline`] called even if no input arrives.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Called once the instant from `next_deadline` has passed.
    fn on_deadline(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// Whether the step acts on watermark advances before the end of input (grouping steps).
    fn observes_watermark(&self) -> bool {
        false
    }
    /// The input watermark advanced to `watermark`: emit what it completes (windows that
    /// closed) and drop their state. `Timestamp::MAX` means end of input: emit everything.
    fn on_watermark(&mut self, _watermark: Timestamp, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// The earliest timestamp this instance may still emit from state it holds (elements
    /// buffered for a batch, open windows); `None` when it holds nothing.
    fn hold(&self) -> Option<Timestamp> {
        None
    }
    /// How many input elements the instance holds right now (reported as `max_held`).
    fn held(&self) -> usize {
        0
    }
    /// Releases per-instance state; also runs after a failed run.
    fn teardown(&mut self) {}
}

/// Builds one [`Executor`] per worker.
pub(crate) type ExecFactory =
    std::sync::Arc<dyn Fn(&ExecContext) -> Box<dyn Executor> + Send + Sync>;
