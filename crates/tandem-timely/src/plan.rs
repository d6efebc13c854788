//! Checks a graph can run on the cluster, and builds one worker's timely dataflow from it.

use std::collections::HashMap;
use std::sync::Arc;

use tandem_pipeline::runner::api::{
    Element, Executor, Outputs, Placement, ProcessError, SourceInstance,
};
use tandem_pipeline::{Error, Graph, Result, StepKind, StopHandle};
use timely::worker::Worker;

use crate::recovery::{EpochLog, LogKind, Resume};
use crate::route::routes_of;
use crate::source::{build_source, SourceOp};
use crate::state::{Counts, RunState};
use crate::step::{build_step, ElemStream, StepOp};

/// The run's settings every worker builds its dataflow with.
pub(crate) struct Settings {
    pub(crate) process: usize,
    pub(crate) processes: usize,
    /// Workers per process.
    pub(crate) workers: usize,
    pub(crate) bundle_size: usize,
    pub(crate) stop: StopHandle,
    /// With recovery: where the run starts.
    pub(crate) recovery: Option<Resume>,
}

/// What the recovery log of `step` holds, if it keeps one: sinks log their input, steps
/// partitioned by key their state (see [`Recovery`](crate::Recovery)).
pub(crate) fn log_kind(step: &tandem_pipeline::runner::api::StepView<'_>) -> Option<LogKind> {
    match (step.kind(), step.placement()) {
        (StepKind::Sink, _) => Some(LogKind::Sink),
        (_, Placement::ByKey(_)) => Some(LogKind::KeyedState),
        _ => None,
    }
}

/// `(step, worker)` of every instance that keeps a recovery log, on `workers` workers.
pub(crate) fn logged_instances(graph: &Graph, workers: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for step in graph.steps().filter(|s| log_kind(s).is_some()) {
        match step.placement() {
            Placement::Single => out.push((step.id(), 0)),
            _ => out.extend((0..workers).map(|w| (step.id(), w))),
        }
    }
    out
}

/// Refuses, before anything starts, a graph whose elements would have to cross processes
/// without a codec: keyed inputs without one, and collections read by a single-instance step
/// without a coder ([`PCollection::with_coder`](tandem_pipeline::PCollection::with_coder)).
pub(crate) fn check(graph: &Graph, processes: usize, recovery: bool) -> Result<()> {
    for step in graph.steps() {
        if recovery && step.kind() == StepKind::Sink {
            for (port, &c) in step.inputs().iter().enumerate() {
                let coded = match step.placement() {
                    Placement::ByKey(codecs) => codecs.get(port).is_some(),
                    _ => graph.collection(c).is_some_and(|col| col.coder().is_some()),
                };
                if !coded {
                    return Err(Error::InvalidGraph {
                        reason: format!(
                            "sink `{}` logs its input for recovery: call `.with_coder()` on \
                             the collection it writes",
                            step.name()
                        ),
                    });
                }
            }
        }
        match step.placement() {
            Placement::ByKey(codecs) if codecs.len() < step.inputs().len() => {
                return Err(Error::InvalidGraph {
                    reason: format!(
                        "keyed step `{}` has {} inputs but {} shuffle codecs",
                        step.name(),
                        step.inputs().len(),
                        codecs.len()
                    ),
                })
            }
            Placement::Single if processes > 1 => {
                for &c in step.inputs() {
                    let Some(col) = graph.collection(c) else {
                        continue;
                    };
                    if col.coder().is_none() {
                        let producer = graph.step(col.producer().0).map_or("?", |s| s.name());
                        return Err(Error::InvalidGraph {
                            reason: format!(
                                "`{producer}` output `{}` ({}) feeds the single-instance step \
                                 `{}`, which runs on process 0 only; call `.with_coder()` on \
                                 that collection so its elements can cross processes",
                                col.port_name(),
                                col.type_name(),
                                step.name()
                            ),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Stands in for a single-instance step on the workers other than 0.
struct Idle;

impl Executor for Idle {
    fn process(&mut self, _: usize, _: Element, _: &mut Outputs) -> Result<(), ProcessError> {
        Err(ProcessError::Step {
            phase: "process",
            message: String::from("an element reached a single-instance step off worker 0"),
        })
    }
}

/// Builds this worker's dataflow: one operator per step, in graph (topological) order.
pub(crate) fn build(
    worker: &mut Worker,
    graph: &Graph,
    sources: &mut [Option<SourceInstance>],
    s: &Settings,
    state: &Arc<RunState>,
) -> Result<()> {
    let here = worker.index();
    let peers = worker.peers();
    let first = s.process * s.workers;
    let reads = here == first;
    worker.dataflow::<u64, _, _>(|scope| {
        let mut streams: HashMap<(usize, usize), ElemStream<'_>> = HashMap::new();
        for step in graph.steps() {
            let sid = step.id();
            let (mut routes, consumers) = routes_of(graph, sid);
            let outs = if step.kind() == StepKind::Source {
                // Only the reading worker takes the source out (workers build in any order).
                let taken = reads.then(|| sources.get_mut(sid).and_then(Option::take));
                let events = match taken.flatten() {
                    Some(source) => match source.open(s.process, s.processes) {
                        Ok(events) => Some(events),
                        Err(e) => {
                            state.fail(e);
                            None
                        }
                    },
                    None => None,
                };
                let op = SourceOp {
                    sid,
                    name: step.name().to_string(),
                    events,
                    route: (!routes.is_empty()).then(|| routes.remove(0)),
                    state: Arc::clone(state),
                    stop: s.stop.clone(),
                    first,
                    count: s.workers,
                    peers,
                    hold_on_failure: s.recovery.is_some() && s.processes > 1,
                    skip_below: s.recovery.as_ref().map_or(0, |r| r.committed),
                };
                build_source(scope, consumers.len(), op)
            } else {
                let mut inputs = Vec::with_capacity(step.inputs().len());
                for port in 0..step.inputs().len() {
                    inputs.push(streams.remove(&(sid, port)).ok_or_else(|| {
                        Error::InvalidGraph {
                            reason: format!(
                                "input {port} of step `{}` is produced by no earlier step",
                                step.name()
                            ),
                        }
                    })?);
                }
                let in_codecs: Vec<_> = step
                    .inputs()
                    .iter()
                    .enumerate()
                    .map(|(port, &c)| match step.placement() {
                        Placement::ByKey(codecs) => codecs.get(port).cloned(),
                        _ => graph.collection(c).and_then(|col| col.coder()),
                    })
                    .collect();
                let single_elsewhere = matches!(step.placement(), Placement::Single) && here != 0;
                let (log, replay) = match (&s.recovery, log_kind(&step)) {
                    (Some(resume), Some(kind)) if !single_elsewhere => {
                        let (log, replay) =
                            EpochLog::resume(resume, kind, sid, here, peers, in_codecs.clone())?;
                        (Some(log), replay)
                    }
                    _ => (None, Vec::new()),
                };
                let op = StepOp {
                    hold_on_failure: s.recovery.is_some() && s.processes > 1,
                    log,
                    replay,
                    sid,
                    name: step.name().to_string(),
                    exec: match step.placement() {
                        // The one instance lives on worker 0; nothing is ever addressed to
                        // the others, which must not open the step's sink.
                        Placement::Single if here != 0 => Box::new(Idle),
                        Placement::Single => graph.instantiate(sid, &step.context(0, 1))?,
                        _ => graph.instantiate(sid, &step.context(here, peers))?,
                    },
                    routes,
                    dead_letter_port: step.dead_letter_port(),
                    in_codecs,
                    state: Arc::clone(state),
                    here,
                    peers,
                    bundle_size: s.bundle_size,
                    counts: Counts::new(step.inputs().len(), step.outputs().len()),
                };
                build_step(scope, inputs, consumers.len(), op)
            };
            for (stream, key) in outs.into_iter().zip(consumers) {
                streams.insert(key, stream);
            }
        }
        Ok(())
    })
}
