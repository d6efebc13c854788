//! `DoFn`: stateful element-wise user code with a lifecycle, a timer hook, and an emitter for
//! main, tagged and dead-letter outputs.

use std::any::TypeId;
use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::element::{debug_text, downcast, panic_message, Elem, Element};
use crate::error::BoxError;
use crate::graph::{Accounting, StepKind};
use crate::pcollection::{Applied, ElementWise, PCollection};
use crate::runner::api::{ExecContext, Executor, Failure, Outputs, Placement, ProcessError};
use crate::timestamp::Timestamp;
use crate::window::Window;

/// Element-wise user code with per-worker state.
///
/// Lifecycle per worker instance (the runner clones the `DoFn` once per worker):
/// `setup` once → for each bundle: `start_bundle`, `process`×n, `finish_bundle` → `teardown`.
/// Build expensive state (a loaded model) in `setup`, not in `new`, so it is built once per
/// worker and never cloned.
///
/// **Timers.** A `DoFn` that holds elements (a batcher) reports when it next needs to run via
/// [`next_deadline`](DoFn::next_deadline); the runner then calls
/// [`on_deadline`](DoFn::on_deadline) once that instant passes even if no element arrives.
/// The last `finish_bundle` runs at end of input, so held elements must be flushed there too.
///
/// **Event time.** Outputs of `process` carry the input element's timestamp and window.
/// A `DoFn` that holds elements past `process` emits them later with
/// [`Emitter::emit_at`] (their own timestamp and window) and reports the earliest timestamp it
/// holds through [`hold`](DoFn::hold), so the watermark downstream waits for them.
///
/// **Failures.** An `Err` from `process`, or a panic, fails that element: it goes to the
/// step's dead-letter output if declared ([`Applied::dead_letters`]), else the run fails.
/// Outputs emitted during a failed `process` call are discarded. After a panic the instance
/// is replaced by a fresh clone and `setup` runs again. Elements held past `process` are
/// failed individually with [`Emitter::fail`].
pub trait DoFn: Clone + Send + 'static {
    /// Input element type.
    type In: Elem;
    /// Main output element type.
    type Out: Elem;

    /// Builds per-worker state. An error fails the run.
    fn setup(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
    /// Called before the first element of each bundle.
    fn start_bundle(
        &mut self,
        _out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
    /// Processes one element.
    fn process(
        &mut self,
        element: Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError>;
    /// Called after the last element of each bundle, including at end of input.
    fn finish_bundle(
        &mut self,
        _out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        Ok(())
    }
    /// When [`on_deadline`](DoFn::on_deadline) should next run; `None`: no timer.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Called once the instant from `next_deadline` has passed.
    fn on_deadline(&mut self, _out: &mut Emitter<'_, Self::In, Self::Out>) -> Result<(), BoxError> {
        Ok(())
    }
    /// The earliest timestamp of the elements this worker holds for later output (`None`:
    /// holds nothing). Downstream watermarks stay at or below it.
    fn hold(&self) -> Option<Timestamp> {
        None
    }
    /// How many input elements this worker holds (reported in the step's `max_held`).
    fn held(&self) -> usize {
        0
    }
    /// Releases per-worker state; also runs after a failed run.
    fn teardown(&mut self) {}
}

/// An element that user code failed on, as sent to a dead-letter output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed<T> {
    /// The step that failed.
    pub step: String,
    /// The input element, unchanged.
    pub element: T,
    /// The error message, or `panicked: <message>`.
    pub error: String,
}

/// Names a tagged side output of element type `U`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputTag<U> {
    name: String,
    _u: PhantomData<fn() -> U>,
}

impl<U> OutputTag<U> {
    /// A tag; its name labels the output in the graph and in metrics.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            _u: PhantomData,
        }
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where a `DoFn` sends its results. [`emit`](Emitter::emit) gives outputs the timestamp and
/// window of the element being processed (in `finish_bundle`/`on_deadline`, of the last
/// element processed); [`emit_at`](Emitter::emit_at) sets them explicitly.
pub struct Emitter<'a, I, O> {
    out: &'a mut Outputs,
    ctx: &'a ExecContext,
    _io: PhantomData<fn(I) -> O>,
}

impl<'a, I: Elem, O: Elem> Emitter<'a, I, O> {
    pub(crate) fn new(out: &'a mut Outputs, ctx: &'a ExecContext) -> Self {
        Self {
            out,
            ctx,
            _io: PhantomData,
        }
    }

    /// Sends `value` to the main output.
    pub fn emit(&mut self, value: O) {
        self.out.push(0, Box::new(value));
    }

    /// Sends `value` to the main output with an explicit timestamp and window: for elements
    /// held across calls (a batcher emitting results in `finish_bundle`).
    pub fn emit_at(&mut self, value: O, timestamp: Timestamp, window: Window) {
        self.out.push_element(
            0,
            Element {
                value: Box::new(value),
                timestamp,
                window,
            },
        );
    }

    /// Timestamp of the element being processed (or the last one processed).
    pub fn timestamp(&self) -> Timestamp {
        self.out.current.map_or(Timestamp::MIN, |(t, _)| t)
    }

    /// Window of the element being processed (or the last one processed).
    pub fn window(&self) -> Window {
        self.out.current.map_or(Window::Global, |(_, w)| w)
    }

    /// Sends `value` to the tagged output `tag`. The tag must have been declared with
    /// [`Applied::side_output`]; otherwise the element being processed fails.
    pub fn output<U: Elem>(&mut self, tag: &OutputTag<U>, value: U) {
        match self.ctx.tag_port(tag.name(), TypeId::of::<U>()) {
            Some(port) => self.out.push(port, Box::new(value)),
            None => {
                self.out.misuse = Some(format!(
                    "emitted to output tag `{}` ({}) which the step does not declare",
                    tag.name(),
                    std::any::type_name::<U>()
                ))
            }
        }
    }

    /// Fails `element` (typically one held from an earlier `process` call): it goes to the
    /// dead-letter output, or fails the run if the step has none.
    pub fn fail(&mut self, element: I, error: impl Display) {
        let (timestamp, window) = (self.timestamp(), self.window());
        self.fail_at(element, error, timestamp, window);
    }

    /// Fails a held `element` that had `timestamp` and `window`.
    pub fn fail_at(
        &mut self,
        element: I,
        error: impl Display,
        timestamp: Timestamp,
        window: Window,
    ) {
        let failure = make_failure(
            &self.ctx.step,
            element,
            error.to_string(),
            (timestamp, window),
        );
        self.out.failures.push(failure);
    }

    /// The step's name.
    pub fn step_name(&self) -> &str {
        &self.ctx.step
    }

    pub(crate) fn note_filtered(&mut self) {
        self.out.counts.filtered += 1;
    }
}

pub(crate) fn make_failure<I: Elem>(
    step: &str,
    element: I,
    message: String,
    (timestamp, window): (Timestamp, Window),
) -> Failure {
    Failure {
        timestamp,
        window,
        element: debug_text(&element),
        dead_letter: Box::new(Failed {
            step: step.to_string(),
            element,
            error: message.clone(),
        }),
        message,
    }
}

/// Adapts a typed `DoFn` to the erased [`Executor`] interface, catching panics.
struct DoFnExec<D: DoFn> {
    proto: D,
    dofn: D,
    ctx: ExecContext,
}

fn guarded<R>(f: impl FnOnce() -> Result<R, BoxError>) -> Result<R, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => Err(panic_message(payload.as_ref())),
    }
}

impl<D: DoFn> DoFnExec<D> {
    fn hook(
        &mut self,
        out: &mut Outputs,
        f: impl FnOnce(&mut D, &mut Emitter<'_, D::In, D::Out>) -> Result<(), BoxError>,
    ) -> Result<(), String> {
        let mark = out.pending.len();
        let dofn = &mut self.dofn;
        let ctx = &self.ctx;
        let result = guarded(|| f(dofn, &mut Emitter::new(out, ctx)));
        let result = result.and_then(|()| out.misuse.take().map_or(Ok(()), Err));
        if result.is_err() {
            out.pending.truncate(mark);
        }
        result
    }
}

impl<D: DoFn> Executor for DoFnExec<D> {
    fn setup(&mut self) -> Result<(), String> {
        let dofn = &mut self.dofn;
        guarded(|| dofn.setup())
    }

    fn start_bundle(&mut self, out: &mut Outputs) -> Result<(), String> {
        self.hook(out, |d, e| d.start_bundle(e))
    }

    fn process(
        &mut self,
        _port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        let value: D::In = downcast(elem.value).map_err(|message| ProcessError::Step {
            phase: "process",
            message,
        })?;
        let meta = (elem.timestamp, elem.window);
        out.current = Some(meta);
        let copy = value.clone();
        let mark = out.pending.len();
        let dofn = &mut self.dofn;
        let ctx = &self.ctx;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            dofn.process(value, &mut Emitter::new(out, ctx))
        }));
        let message = match outcome {
            Ok(Ok(())) => match out.misuse.take() {
                None => return Ok(()),
                Some(m) => m,
            },
            Ok(Err(e)) => e.to_string(),
            Err(payload) => {
                // Replacing an instance that holds elements for later output would lose them
                // silently (no output, no dead letter): fail the step instead.
                let dofn = &self.dofn;
                let (held, hold) = catch_unwind(AssertUnwindSafe(|| (dofn.held(), dofn.hold())))
                    .unwrap_or((0, None));
                if held > 0 || hold.is_some() {
                    return Err(ProcessError::Step {
                        phase: "process",
                        message: format!(
                            "panicked while holding {held} element(s) for later output, which \
                             cannot be recovered: {}",
                            panic_message(payload.as_ref())
                        ),
                    });
                }
                // The instance may be half-updated: replace it and set it up again.
                let mut fresh = self.proto.clone();
                guarded(|| fresh.setup()).map_err(|message| ProcessError::Step {
                    phase: "setup (after a panic)",
                    message,
                })?;
                self.dofn.teardown();
                self.dofn = fresh;
                panic_message(payload.as_ref())
            }
        };
        out.pending.truncate(mark);
        Err(ProcessError::Element(make_failure(
            &self.ctx.step,
            copy,
            message,
            meta,
        )))
    }

    fn finish_bundle(&mut self, out: &mut Outputs) -> Result<(), String> {
        self.hook(out, |d, e| d.finish_bundle(e))
    }

    fn next_deadline(&self) -> Option<Instant> {
        catch_unwind(AssertUnwindSafe(|| self.dofn.next_deadline())).unwrap_or(None)
    }

    fn on_deadline(&mut self, out: &mut Outputs) -> Result<(), String> {
        self.hook(out, |d, e| d.on_deadline(e))
    }

    fn hold(&self) -> Option<Timestamp> {
        catch_unwind(AssertUnwindSafe(|| self.dofn.hold())).unwrap_or(None)
    }

    fn held(&self) -> usize {
        catch_unwind(AssertUnwindSafe(|| self.dofn.held())).unwrap_or(0)
    }

    fn teardown(&mut self) {
        let dofn = &mut self.dofn;
        let _ = catch_unwind(AssertUnwindSafe(|| dofn.teardown()));
    }
}

/// Everything an element-wise transform built on a `DoFn` needs besides the `DoFn`.
pub(crate) fn apply_dofn<D: DoFn>(
    input: &PCollection<D::In>,
    name: String,
    dofn: D,
    accounting: Accounting,
) -> Applied<D::In, D::Out> {
    // `D` need not be `Sync`; the factory is shared between threads, so guard the prototype.
    let proto = std::sync::Mutex::new(dofn);
    let factory = Arc::new(move |ctx: &ExecContext| -> Box<dyn Executor> {
        let dofn = proto.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::new(DoFnExec {
            proto: dofn.clone(),
            dofn,
            ctx: ctx.clone(),
        })
    });
    Applied::new(input.add_element_wise(ElementWise {
        name,
        kind: StepKind::ParDo,
        accounting,
        placement: Placement::PerWorker,
        factory,
    }))
}

impl<T: Elem> PCollection<T> {
    /// Applies a [`DoFn`] to every element.
    pub fn par_do<D: DoFn<In = T>>(&self, name: impl Into<String>, dofn: D) -> Applied<T, D::Out> {
        apply_dofn(self, name.into(), dofn, Accounting::Variable)
    }
}
