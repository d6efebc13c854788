//! One timely operator per instance of a (non-source) step, driving its [`Executor`] as that
//! trait's contract states.
//!
//! * Inputs: one per input port, each behind an exchange on the envelope's `dest` worker
//!   (chosen by the producer: itself, the key's owner, or worker 0).
//! * Bundles: the elements of one activation (at most `bundle_size`) form a bundle.
//! * Progress: the operator holds one capability per output at
//!   `min(input frontier, executor hold)`, so its output frontier is exactly the watermark the
//!   runner API defines. When the input frontier passes the watermark last seen,
//!   `on_watermark` runs (for steps that observe it); when it is empty (input complete), the
//!   final `finish_bundle`/`on_watermark(MAX)`/`teardown` run and the capabilities drop.
//! * Timers: `next_deadline` schedules an activation.
//! * An element output is sent at timely time `max(its timestamp, capability)`; its own
//!   timestamp travels in the envelope unchanged.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use tandem_pipeline::runner::api::{Element, Executor, Outputs, ProcessError, ShuffleCodec};
use tandem_pipeline::{Error, Timestamp};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use crate::envelope::Envelope;
use crate::panic_text;
use crate::recovery::EpochLog;
use crate::route::{address, PortRoute};
use crate::state::{Counts, RunState};

/// A timely stream of pipeline elements.
pub(crate) type ElemStream<'s> = Stream<'s, u64, Vec<Envelope>>;

/// Everything an operator instance needs besides its timely handles.
pub(crate) struct StepOp {
    pub(crate) sid: usize,
    pub(crate) name: String,
    pub(crate) exec: Box<dyn Executor>,
    pub(crate) routes: Vec<PortRoute>,
    pub(crate) dead_letter_port: Option<usize>,
    /// Per input port: the codec decoding elements from other processes.
    pub(crate) in_codecs: Vec<Option<Arc<dyn ShuffleCodec>>>,
    pub(crate) state: Arc<RunState>,
    pub(crate) here: usize,
    pub(crate) peers: usize,
    pub(crate) bundle_size: usize,
    pub(crate) counts: Counts,
    /// A sink's or keyed step's epoch log when the run has recovery on.
    pub(crate) log: Option<EpochLog>,
    /// Elements of committed epochs to feed the step before any new input.
    pub(crate) replay: Vec<(usize, Element)>,
    /// On failure keep the capabilities (recovery across processes): dropping them would
    /// let the other processes' frontiers pass epochs whose elements never arrive, and
    /// commit them. The process exits instead and its peers see it lost.
    pub(crate) hold_on_failure: bool,
}

/// Addressed outputs of one call: `(timely output, timestamp, envelope)`.
pub(crate) type Pending = Vec<(usize, Timestamp, Envelope)>;

impl StepOp {
    fn fail(&self, phase: &'static str, message: String) {
        self.state.fail(Error::StepFailed {
            step: self.name.clone(),
            phase,
            message,
        });
    }

    /// Runs a hook with a panic guard and timing, then addresses what it produced.
    fn hook(
        &mut self,
        phase: &'static str,
        pending: &mut Pending,
        f: impl FnOnce(&mut dyn Executor, &mut Outputs) -> Result<(), String>,
    ) -> bool {
        let mut out = Outputs::new();
        let start = Instant::now();
        let exec = &mut *self.exec;
        let result = catch_unwind(AssertUnwindSafe(|| f(exec, &mut out)));
        self.counts.busy += start.elapsed();
        match result {
            Ok(Ok(())) => self.publish(&mut out, pending),
            Ok(Err(message)) => {
                self.fail(phase, message);
                false
            }
            Err(payload) => {
                self.fail(phase, panic_text(payload.as_ref()));
                false
            }
        }
    }

    fn process(&mut self, port: usize, elem: Element, pending: &mut Pending) -> bool {
        if let Some(log) = self.log.as_mut() {
            if let Err(m) = log.record(port, &elem) {
                self.fail("recovery log", m);
                return false;
            }
        }
        if let Some(c) = self.counts.inp.get_mut(port) {
            *c += 1;
        }
        let mut out = Outputs::new();
        let start = Instant::now();
        let exec = &mut *self.exec;
        let result = catch_unwind(AssertUnwindSafe(|| exec.process(port, elem, &mut out)));
        self.counts.busy += start.elapsed();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(ProcessError::Element(f))) => out.push_failure(f),
            Ok(Err(ProcessError::Step { phase, message })) => {
                self.fail(phase, message);
                return false;
            }
            Err(payload) => {
                self.fail("process", panic_text(payload.as_ref()));
                return false;
            }
        }
        self.publish(&mut out, pending)
    }

    /// Addresses the outputs and dead letters in `out`; a failure without a dead-letter port
    /// fails the run.
    fn publish(&mut self, out: &mut Outputs, pending: &mut Pending) -> bool {
        let c = out.take_counts();
        self.counts.filtered += c.filtered;
        self.counts.written += c.written;
        self.counts.late += c.late;
        let mut elements = out.take_elements();
        for failure in out.take_failures() {
            match self.dead_letter_port {
                Some(port) => {
                    self.counts.dead_lettered += 1;
                    let elem = Element {
                        value: failure.dead_letter,
                        timestamp: failure.timestamp,
                        window: failure.window,
                    };
                    elements.push((port, elem));
                }
                None => {
                    self.state.fail(Error::ElementFailed {
                        step: self.name.clone(),
                        element: failure.element,
                        message: failure.message,
                    });
                    return false;
                }
            }
        }
        for (port, elem) in elements {
            if let Some(c) = self.counts.out.get_mut(port) {
                *c += 1;
            }
            let Some(route) = self.routes.get(port) else {
                self.fail(
                    "routing",
                    format!("emitted to nonexistent output port {port}"),
                );
                return false;
            };
            if let Err(message) = address(route, elem, self.here, self.peers, pending) {
                self.fail("routing", message);
                return false;
            }
        }
        true
    }

    fn held(&self) -> Option<Timestamp> {
        catch_unwind(AssertUnwindSafe(|| self.exec.hold())).unwrap_or(None)
    }
}

/// Sends `pending` on `outputs`, each at timely time `max(timestamp, capability)`.
fn emit(
    pending: &mut Pending,
    caps: &[Capability<u64>],
    outputs: &mut [timely::dataflow::channels::pushers::Output<u64, Vec<Envelope>>],
) {
    if pending.is_empty() {
        return;
    }
    pending.sort_by_key(|(o, t, _)| (*o, *t));
    let mut buf: Vec<Envelope> = Vec::new();
    let mut current: Option<(usize, u64)> = None;
    let mut flush = |key: Option<(usize, u64)>, buf: &mut Vec<Envelope>| {
        if let Some((o, t)) = key {
            if let (Some(cap), Some(out)) = (caps.get(o), outputs.get_mut(o)) {
                let at = cap.delayed(&t.max(*cap.time()));
                out.activate().give(&at, buf);
            }
            buf.clear();
        }
    };
    for (o, t, env) in pending.drain(..) {
        let t = caps.get(o).map_or(t.0, |c| t.0.max(*c.time()));
        if current != Some((o, t)) {
            flush(current, &mut buf);
            current = Some((o, t));
        }
        buf.push(env);
    }
    flush(current, &mut buf);
}

/// Adds the operator of one step instance to `scope`: reads `inputs` (in port order) and
/// returns one stream per timely output (see [`crate::route::routes_of`]).
pub(crate) fn build_step<'s>(
    scope: Scope<'s, u64>,
    inputs: Vec<ElemStream<'s>>,
    n_outputs: usize,
    mut op: StepOp,
) -> Vec<ElemStream<'s>> {
    let mut builder = OperatorBuilder::new(op.name.clone(), scope);
    let mut handles = Vec::with_capacity(inputs.len());
    for stream in inputs {
        handles.push(builder.new_input(stream, Exchange::new(|e: &Envelope| e.dest)));
    }
    let mut outputs = Vec::with_capacity(n_outputs);
    let mut streams = Vec::with_capacity(n_outputs);
    for _ in 0..n_outputs {
        let (out, stream) = builder.new_output::<Vec<Envelope>>();
        outputs.push(out);
        streams.push(stream);
    }
    let activator = scope.activator_for(builder.operator_info().address);
    builder.build(move |caps| {
        let mut caps = caps;
        let mut watermark = Timestamp::MIN;
        let mut finished = false;
        let observes = op.exec.observes_watermark();
        let mut pending: Pending = Vec::new();
        let mut batch: Vec<(usize, Envelope)> = Vec::new();
        if catch_unwind(AssertUnwindSafe(|| op.exec.setup()))
            .map_err(|p| panic_text(p.as_ref()))
            .and_then(|r| r)
            .is_err_and(|m| {
                op.fail("setup", m);
                true
            })
        {
            caps.clear();
            finished = true;
        }
        move |frontiers| {
            for (port, handle) in handles.iter_mut().enumerate() {
                handle.for_each(|_cap, data| batch.extend(data.drain(..).map(|e| (port, e))));
            }
            if finished {
                batch.clear();
                return;
            }
            if op.state.aborted() {
                batch.clear();
                let _ = catch_unwind(AssertUnwindSafe(|| op.exec.teardown()));
                if !op.hold_on_failure {
                    caps.clear();
                }
                finished = true;
                return;
            }
            let mut ok = true;
            if !op.replay.is_empty() {
                // Committed epochs of an earlier run, fed to the step again (not re-logged:
                // the kept parts hold them).
                let replay = std::mem::take(&mut op.replay);
                let log = op.log.take();
                ok = op.hook("start_bundle", &mut pending, |e, o| e.start_bundle(o));
                for (port, elem) in replay {
                    ok = ok && op.process(port, elem, &mut pending);
                }
                ok = ok && op.hook("finish_bundle", &mut pending, |e, o| e.finish_bundle(o));
                op.log = log;
                emit(&mut pending, &caps, &mut outputs);
            }
            let mut elements = std::mem::take(&mut batch).into_iter().peekable();
            while ok && elements.peek().is_some() {
                ok = op.hook("start_bundle", &mut pending, |e, o| e.start_bundle(o));
                for (port, env) in elements.by_ref().take(op.bundle_size) {
                    if !ok {
                        break;
                    }
                    match env.open(op.in_codecs.get(port).and_then(Option::as_ref)) {
                        Ok(elem) => ok = op.process(port, elem, &mut pending),
                        Err(m) => {
                            op.fail("decode", m);
                            ok = false;
                        }
                    }
                    emit(&mut pending, &caps, &mut outputs);
                }
                ok = ok && op.hook("finish_bundle", &mut pending, |e, o| e.finish_bundle(o));
                emit(&mut pending, &caps, &mut outputs);
            }
            let frontier = frontiers
                .iter()
                .filter_map(|f| f.frontier().iter().min().copied())
                .min();
            match frontier {
                Some(f) if ok => {
                    let wm = Timestamp(f);
                    if wm > watermark {
                        watermark = wm;
                        if observes {
                            ok =
                                op.hook("on_watermark", &mut pending, |e, o| e.on_watermark(wm, o));
                        }
                    }
                    let now = Instant::now();
                    if ok && op.exec.next_deadline().is_some_and(|d| d <= now) {
                        ok = op.hook("on_deadline", &mut pending, |e, o| e.on_deadline(o));
                    }
                    emit(&mut pending, &caps, &mut outputs);
                    if let Some(d) = op.exec.next_deadline() {
                        let wait = d.saturating_duration_since(Instant::now());
                        // (A deadline in the past is re-armed 1 ms later, never busy-looped.)
                        activator.activate_after(wait.max(std::time::Duration::from_millis(1)));
                    }
                    let target = op.held().map_or(f, |h| h.0.min(f));
                    for cap in caps.iter_mut() {
                        if target > *cap.time() {
                            cap.downgrade(&target);
                        }
                    }
                    if let (true, Some(log)) = (ok && !op.state.aborted(), op.log.as_mut()) {
                        if let Err(e) = log.commit_through(Some(f), Instant::now()) {
                            op.state.fail(e);
                            ok = false;
                        }
                        if let Some(end) = log.next_interval_end(f) {
                            // A time-based epoch ends even if nothing else wakes the step.
                            let wait = end.saturating_duration_since(Instant::now());
                            activator.activate_after(wait.max(std::time::Duration::from_millis(1)));
                        }
                    }
                    let held = catch_unwind(AssertUnwindSafe(|| op.exec.held())).unwrap_or(0);
                    op.counts.max_held = op.counts.max_held.max(held);
                    if !ok {
                        // The run failed: stop holding the frontier back so the dataflow
                        // winds down; the error is already recorded.
                        let _ = catch_unwind(AssertUnwindSafe(|| op.exec.teardown()));
                        pending.clear();
                        if !op.hold_on_failure {
                            caps.clear();
                        }
                        finished = true;
                    }
                }
                _ => {
                    if ok {
                        ok = op.hook("on_watermark", &mut pending, |e, o| {
                            e.on_watermark(Timestamp::MAX, o)
                        });
                        if ok {
                            emit(&mut pending, &caps, &mut outputs);
                        }
                    }
                    let _ = catch_unwind(AssertUnwindSafe(|| op.exec.teardown()));
                    if let (true, Some(log)) = (ok && !op.state.aborted(), op.log.as_mut()) {
                        if let Err(e) = log.commit_through(None, Instant::now()) {
                            op.state.fail(e);
                        }
                    }
                    pending.clear();
                    if ok || !op.hold_on_failure {
                        caps.clear();
                    }
                    finished = true;
                    op.state.add_counts(op.sid, &op.counts);
                }
            }
        }
    });
    streams
}
