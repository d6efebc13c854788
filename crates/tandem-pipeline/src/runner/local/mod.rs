//! The embedded multi-threaded runner.
//!
//! Every step runs on its own thread(s); steps are connected by **bounded** channels, so a
//! fast source blocks as soon as a slow step falls `channel_capacity` elements behind: memory
//! stays bounded whatever the input size. Element-wise steps run `parallelism` instances
//! (each with its own `setup`); sources, grouping steps and sinks run one instance.
//! Bounded sources run to completion; unbounded ones until closed.
//!
//! The first failure (an element failing in a step without a dead-letter output, a hook
//! error, a source error) stops the run and is returned; other threads wind down.

mod metrics;
mod router;
mod shared;
mod source;
mod worker;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::error::{Error, Result};
use crate::exec::{ExecContext, Outputs};
use crate::graph::{Graph, StepExec, StepKind};
use crate::metrics::{RunReport, StepMetrics};
use crate::runner::Runner;
use metrics::WorkerMetrics;
use router::{Msg, PortRoute, Router};
use shared::Shared;
use worker::Worker;

/// Runs pipelines on threads of this process.
#[derive(Clone, Debug)]
pub struct LocalRunner {
    parallelism: usize,
    channel_capacity: usize,
    bundle_size: usize,
}

impl Default for LocalRunner {
    fn default() -> Self {
        Self {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            channel_capacity: 64,
            bundle_size: 64,
        }
    }
}

impl LocalRunner {
    /// Default settings: one worker per CPU core per element-wise step, channels of 64
    /// elements, bundles of 64 elements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Workers per element-wise step unless the step sets its own (minimum 1).
    pub fn with_parallelism(mut self, workers: usize) -> Self {
        self.parallelism = workers.max(1);
        self
    }

    /// Capacity of each step's input channel (minimum 1). Bounds how far producers run ahead.
    pub fn with_channel_capacity(mut self, elements: usize) -> Self {
        self.channel_capacity = elements.max(1);
        self
    }

    /// Elements per bundle (minimum 1): `finish_bundle` runs at least this often.
    pub fn with_bundle_size(mut self, elements: usize) -> Self {
        self.bundle_size = elements.max(1);
        self
    }

    /// Capacity of each step's input channel.
    pub fn channel_capacity(&self) -> usize {
        self.channel_capacity
    }
}

struct Running {
    step: usize,
    is_source: bool,
    handle: JoinHandle<WorkerMetrics>,
}

fn spawn<F>(name: &str, f: F) -> Result<JoinHandle<WorkerMetrics>>
where
    F: FnOnce() -> WorkerMetrics + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("tandem:{name}"))
        .spawn(f)
        .map_err(|e| Error::Worker {
            step: name.to_string(),
            message: e.to_string(),
        })
}

impl Runner for LocalRunner {
    fn run_graph(&self, mut graph: Graph) -> Result<RunReport> {
        let started = Instant::now();
        let shared = Arc::new(Shared::default());
        let consumers = graph.consumers();

        let mut senders: Vec<Option<Sender<Msg>>> = Vec::new();
        let mut receivers: Vec<Option<Receiver<Msg>>> = Vec::new();
        for step in &graph.steps {
            if step.kind == StepKind::Source {
                senders.push(None);
                receivers.push(None);
            } else {
                let (tx, rx) = bounded(self.channel_capacity);
                senders.push(Some(tx));
                receivers.push(Some(rx));
            }
        }
        let router_for = |sid: usize| -> Router {
            let step = &graph.steps[sid];
            let ports = step
                .outputs
                .iter()
                .map(|&c| PortRoute {
                    consumers: consumers[c]
                        .iter()
                        .filter_map(|&(t, port)| senders[t].clone().map(|tx| (tx, port)))
                        .collect(),
                    clone: graph.collections[c].clone,
                })
                .collect();
            Router {
                step: step.name.clone(),
                ports,
                dead_letter_port: step.dead_letter_port,
                shared: Arc::clone(&shared),
            }
        };

        let routers: Vec<Router> = (0..graph.steps.len()).map(router_for).collect();
        let mut workers_per_step = vec![0usize; graph.steps.len()];
        let mut running: Vec<Running> = Vec::new();
        let mut spawn_error = None;
        for (sid, router) in routers.into_iter().enumerate() {
            let step = &mut graph.steps[sid];
            let name = step.name.clone();
            match &mut step.exec {
                StepExec::Source(slot) => {
                    let Some(source) = slot.take() else { continue };
                    workers_per_step[sid] = 1;
                    match spawn(&name, move || source::run_source(source, router)) {
                        Ok(handle) => running.push(Running {
                            step: sid,
                            is_source: true,
                            handle,
                        }),
                        Err(e) => spawn_error = spawn_error.or(Some(e)),
                    }
                }
                StepExec::Worker(factory) => {
                    let n = if step.single_instance {
                        1
                    } else {
                        step.parallelism.unwrap_or(self.parallelism)
                    };
                    workers_per_step[sid] = n;
                    let ctx = ExecContext {
                        step: name.clone(),
                        tags: step.tags.clone(),
                        windowing: step
                            .inputs
                            .first()
                            .and_then(|&c| graph.collections[c].windowing.clone()),
                    };
                    let Some(rx) = receivers[sid].clone() else {
                        continue;
                    };
                    for _ in 0..n {
                        let w = Worker {
                            exec: factory(&ctx),
                            input: rx.clone(),
                            router: router.fork(),
                            bundle_size: self.bundle_size,
                            metrics: WorkerMetrics::new(step.inputs.len(), step.outputs.len()),
                            out: Outputs::default(),
                        };
                        match spawn(&name, move || w.run()) {
                            Ok(handle) => running.push(Running {
                                step: sid,
                                is_source: false,
                                handle,
                            }),
                            Err(e) => spawn_error = spawn_error.or(Some(e)),
                        }
                    }
                }
            }
        }
        // Only workers hold senders and receivers now: a channel closes when its last
        // producer finishes, and a send fails once every consumer of it has stopped.
        drop(senders);
        drop(receivers);
        if let Some(e) = spawn_error {
            shared.fail(e);
        }

        let mut per_step: Vec<WorkerMetrics> = graph
            .steps
            .iter()
            .map(|s| WorkerMetrics::new(s.inputs.len(), s.outputs.len()))
            .collect();
        let (workers, sources): (Vec<Running>, Vec<Running>) =
            running.into_iter().partition(|r| !r.is_source);
        for r in workers {
            match r.handle.join() {
                Ok(m) => per_step[r.step].merge(&m),
                Err(_) => shared.fail(Error::Worker {
                    step: graph.steps[r.step].name.clone(),
                    message: String::from("worker thread panicked outside user code"),
                }),
            }
        }
        for r in sources {
            // A source blocked reading (stdin) cannot be interrupted: once the run has failed,
            // leave it; it stops at its next element.
            if shared.aborted() && !r.handle.is_finished() {
                continue;
            }
            if let Ok(m) = r.handle.join() {
                per_step[r.step].merge(&m);
            }
        }
        if let Some(e) = shared.take_error() {
            return Err(e);
        }
        let report = build_report(&graph, &per_step, &workers_per_step, started);
        check_edges(&graph, &consumers, &per_step)?;
        Ok(report)
    }
}

fn build_report(
    graph: &Graph,
    per_step: &[WorkerMetrics],
    workers: &[usize],
    started: Instant,
) -> RunReport {
    let steps = graph
        .steps
        .iter()
        .zip(per_step)
        .zip(workers)
        .map(|((step, m), &workers)| {
            let outputs: Vec<(String, u64)> = step
                .outputs
                .iter()
                .zip(&m.out)
                .map(|(&c, &n)| (graph.collections[c].port_name.clone(), n))
                .collect();
            let elements_out = m
                .out
                .iter()
                .enumerate()
                .filter(|(p, _)| Some(*p) != step.dead_letter_port)
                .map(|(_, n)| n)
                .sum();
            let elements_in = if step.kind == StepKind::Source {
                elements_out
            } else {
                m.inp.iter().sum()
            };
            StepMetrics {
                name: step.name.clone(),
                kind: step.kind,
                workers,
                elements_in,
                elements_out,
                outputs,
                dead_lettered: m.dead_lettered,
                filtered: m.filtered,
                written: m.written,
                busy: m.busy,
                max_queued: m.max_queued,
                accounting: step.accounting,
            }
        })
        .collect();
    RunReport {
        steps,
        wall_time: started.elapsed(),
        inference: crate::transforms::run_inference::collect_metrics(graph),
    }
}

/// Every element a step emitted on a collection must have been received by each reader, and
/// every exact step must balance. A mismatch is a runner bug; report it rather than hide it.
fn check_edges(
    graph: &Graph,
    consumers: &[Vec<(usize, usize)>],
    per_step: &[WorkerMetrics],
) -> Result<()> {
    let mut problems = Vec::new();
    for (c, col) in graph.collections.iter().enumerate() {
        let sent = per_step[col.producer]
            .out
            .get(col.port)
            .copied()
            .unwrap_or(0);
        for &(t, port) in &consumers[c] {
            let got = per_step[t].inp.get(port).copied().unwrap_or(0);
            if got != sent {
                problems.push(format!(
                    "`{}` emitted {sent} on `{}` but `{}` received {got}",
                    graph.steps[col.producer].name, col.port_name, graph.steps[t].name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Accounting {
            details: problems.join("; "),
        })
    }
}
