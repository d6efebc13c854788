//! The type-erased interface every step compiles to, and the output buffer it writes into.
//!
//! This is what a runner drives: it is independent of threads and channels, so the local runner
//! and a future distributed runner execute the same step instances. Typed user code (`DoFn`,
//! closures, sinks, groupers) is adapted to it in the transform modules.

use std::time::Instant;

use crate::element::{AnyBox, Element};
use crate::window::Window;

/// What a step's instance is told at creation.
#[derive(Clone, Debug)]
pub(crate) struct ExecContext {
    /// The step's name, for dead letters and errors.
    pub(crate) step: String,
    /// Declared tagged outputs: name, port, element type.
    pub(crate) tags: Vec<(String, usize, std::any::TypeId)>,
    /// Windowing of the step's first input (grouping steps fire by it).
    pub(crate) windowing: Option<crate::window::FixedWindows>,
}

impl ExecContext {
    /// Port of tag `tag` if it was declared with element type `ty`.
    pub(crate) fn tag_port(&self, tag: &str, ty: std::any::TypeId) -> Option<usize> {
        self.tags
            .iter()
            .find(|(t, _, tid)| t == tag && *tid == ty)
            .map(|(_, p, _)| *p)
    }
}

/// One element that user code failed on.
pub(crate) struct Failure {
    /// `Failed<I>` boxed, ready for the dead-letter output.
    pub(crate) dead_letter: AnyBox,
    /// The element's `Debug` text, for the error when there is no dead-letter output.
    pub(crate) element: String,
    /// The error or panic message.
    pub(crate) message: String,
}

/// Buffer of everything one call into a step produced. The runner routes it after the call
/// returns, so an element's outputs are published only if the element succeeded.
#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) pending: Vec<(usize, Element)>,
    pub(crate) failures: Vec<Failure>,
    /// Window given to outputs: the current input element's, or the last one seen.
    pub(crate) window: Option<Window>,
    /// Elements a filter deliberately dropped.
    pub(crate) filtered: u64,
    /// Elements a sink wrote.
    pub(crate) written: u64,
    /// Set when user code emitted to a tag the step did not declare.
    pub(crate) misuse: Option<String>,
}

impl Outputs {
    pub(crate) fn push(&mut self, port: usize, value: AnyBox) {
        let window = self.window.unwrap_or(crate::window::Window::Global);
        self.pending.push((port, Element { value, window }));
    }

    pub(crate) fn push_in(&mut self, port: usize, value: AnyBox, window: Window) {
        self.pending.push((port, Element { value, window }));
    }
}

/// Why processing one element did not succeed.
pub(crate) enum ProcessError {
    /// The element failed; it goes to the dead-letter output or fails the run.
    Element(Failure),
    /// The step itself is broken (e.g. re-running `setup` after a panic failed).
    Step {
        phase: &'static str,
        message: String,
    },
}

pub(crate) type ElementResult = Result<(), ProcessError>;

/// An erased step instance. One instance per worker; calls on one instance are sequential.
pub(crate) trait Exec: Send {
    fn setup(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn start_bundle(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// Processes one element arriving on input `port`.
    fn process(&mut self, port: usize, elem: Element, out: &mut Outputs) -> ElementResult;
    fn finish_bundle(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// When the step next wants [`Exec::on_deadline`] called even if no input arrives.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn on_deadline(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    /// All input has been processed (after the last `finish_bundle`): emit held state.
    fn end_of_input(&mut self, _out: &mut Outputs) -> Result<(), String> {
        Ok(())
    }
    fn teardown(&mut self) {}
}

/// Builds one [`Exec`] per worker.
pub(crate) type ExecFactory = std::sync::Arc<dyn Fn(&ExecContext) -> Box<dyn Exec> + Send + Sync>;
