//! The embedded multi-threaded runner, written against the public [`runner::api`](crate::runner::api)
//! only.
//!
//! Every step runs on its own thread(s); steps are connected by **bounded** channels, so a
//! fast source blocks as soon as a slow step falls `channel_capacity` elements behind: memory
//! stays bounded whatever the input size. Steps placed per worker run `parallelism` instances
//! sharing one channel; steps placed by key run `parallelism` instances, each with its own
//! channel, elements routed by key hash; single-instance steps (sinks) run one. Sources run
//! one thread each.
//!
//! **Progress.** Elements carry timestamps and the runner tracks, per step, which timestamps
//! can still arrive (see `progress.rs`): that is the step's input watermark, which grouping
//! steps fire windows by. A step ends when its watermark reaches the end of input. A
//! [`StopHandle`] closes every source at once; what was read still runs to completion.
//!
//! The first failure (an element failing in a step without a dead-letter output, a hook
//! error, a source error) stops the run and is returned; other threads wind down.

mod inbox;
mod metrics;
mod progress;
mod router;
mod shared;
mod source;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::error::{Error, Result};
use crate::graph::{Graph, StepKind};
use crate::metrics::{RunReport, StepMetrics};
use crate::runner::api::{Outputs, Placement};
use crate::runner::{Runner, StopHandle};
use crate::timestamp::Timestamp;
use inbox::Inbox;
use metrics::WorkerMetrics;
use progress::Progress;
use router::{Msg, PortRoute, Router, Target};
use shared::Shared;
use worker::Worker;

/// Runs pipelines on threads of this process.
#[derive(Clone, Debug)]
pub struct LocalRunner {
    parallelism: usize,
    channel_capacity: usize,
    bundle_size: usize,
    stop: StopHandle,
    max_drift: Option<u64>,
    max_bundle_time: Duration,
}

impl Default for LocalRunner {
    fn default() -> Self {
        Self {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            channel_capacity: 64,
            bundle_size: 64,
            stop: StopHandle::new(),
            max_drift: None,
            max_bundle_time: Duration::from_secs(1),
        }
    }
}

impl LocalRunner {
    /// Default settings: one worker per CPU core per step, channels of 64 elements, bundles
    /// of 64 elements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Workers per step unless the step sets its own (minimum 1).
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

    /// The longest a bundle stays open (default 1 s, as Flink's runner for Beam): a step
    /// whose input goes quiet still finishes its bundle, so what a `DoFn` releases in
    /// `finish_bundle` (and the watermark behind it) never waits for input that may not come.
    pub fn with_max_bundle_time(mut self, limit: Duration) -> Self {
        self.max_bundle_time = limit;
        self
    }

    /// Stops the run's sources when `stop` is triggered (a graceful interrupt).
    pub fn with_stop(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// Watermark alignment: a source waits before emitting an element stamped more than
    /// `units` after the earliest timestamp still in flight anywhere in the pipeline (Flink's
    /// `maxAllowedWatermarkDrift`). Bounded channels bound each queue, but parallel workers let
    /// later elements overtake one that waits in a batcher, and a grouping step holds
    /// everything after it until it arrives; the drift bounds that, so a windowed join holds
    /// at most about `units` timestamps' worth of elements whatever the input size. Off by
    /// default. Steps that hold elements must release them on a timer (as RunInference's
    /// batcher does), not only when more input comes.
    pub fn with_max_drift(mut self, units: u64) -> Self {
        self.max_drift = Some(units);
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
    /// For a source: elements it emitted, readable even if its thread is left blocked.
    emitted: Arc<AtomicU64>,
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

/// Channels of one step: one shared channel, or one per instance for keyed steps.
struct StepChannels {
    senders: Vec<Sender<Msg>>,
    receivers: Vec<Receiver<Msg>>,
    wakers: Vec<Sender<()>>,
    wake_rx: Vec<Receiver<()>>,
}

impl LocalRunner {
    fn instances(&self, graph: &Graph, sid: usize) -> usize {
        let Some(step) = graph.step(sid) else {
            return 0;
        };
        match (step.kind(), step.placement()) {
            (StepKind::Source, _) => 1,
            (_, Placement::Single) => 1,
            _ => step.parallelism().unwrap_or(self.parallelism).max(1),
        }
    }
}

impl Runner for LocalRunner {
    fn run_graph(&self, mut graph: Graph) -> Result<RunReport> {
        let started = Instant::now();
        let shared = Arc::new(Shared::default());
        let n_steps = graph.steps().len();
        let instances: Vec<usize> = (0..n_steps).map(|s| self.instances(&graph, s)).collect();

        let mut channels = Vec::with_capacity(n_steps);
        for (sid, step) in graph.steps().enumerate() {
            let (n_chan, n_wake) = match (step.kind(), step.placement()) {
                (StepKind::Source, _) => (0, 0),
                (_, Placement::ByKey(_)) => (instances[sid], instances[sid]),
                _ => (1, instances[sid]),
            };
            let (senders, receivers) = (0..n_chan).map(|_| bounded(self.channel_capacity)).unzip();
            let (wakers, wake_rx) = (0..n_wake).map(|_| bounded(1)).unzip();
            channels.push(StepChannels {
                senders,
                receivers,
                wakers,
                wake_rx,
            });
        }
        let upstream: Vec<Vec<usize>> = (0..n_steps).map(|s| graph.upstream(s)).collect();
        let sources: Vec<usize> = graph
            .steps()
            .filter(|s| s.kind() == StepKind::Source)
            .map(|s| s.id())
            .collect();
        let progress = Arc::new(Progress::new(
            &upstream,
            &sources,
            &instances,
            channels.iter().map(|c| c.wakers.clone()).collect(),
        ));
        {
            let progress = Arc::clone(&progress);
            self.stop.on_stop(move || progress.close_all_sources());
        }

        // Sources are consumed from the graph before routers borrow it.
        let mut taken: Vec<Option<crate::runner::api::SourceInstance>> =
            (0..n_steps).map(|s| graph.take_source(s)).collect();
        let router_for = |sid: usize| -> Option<Router> {
            let step = graph.step(sid)?;
            let ports = step
                .outputs()
                .iter()
                .filter_map(|&c| graph.collection(c))
                .map(|col| PortRoute {
                    targets: col
                        .consumers()
                        .into_iter()
                        .filter_map(|(t, port)| {
                            let codec = match graph.step(t)?.placement() {
                                Placement::ByKey(codecs) => codecs.get(port).cloned(),
                                _ => None,
                            };
                            Some(Target {
                                step: t,
                                port,
                                senders: channels[t].senders.clone(),
                                codec,
                            })
                        })
                        .collect(),
                    clone: col.clone_fn(),
                })
                .collect();
            Some(Router {
                step: step.name().to_string(),
                ports,
                dead_letter_port: step.dead_letter_port(),
                shared: Arc::clone(&shared),
                progress: Arc::clone(&progress),
            })
        };

        let mut running: Vec<Running> = Vec::new();
        let mut spawn_error = None;
        for sid in 0..n_steps {
            let Some(router) = router_for(sid) else {
                continue;
            };
            let Some(step) = graph.step(sid) else {
                continue;
            };
            let name = step.name().to_string();
            if step.kind() == StepKind::Source {
                let Some(source) = taken[sid].take() else {
                    progress.close_source(sid);
                    continue;
                };
                let (tracker, stop, drift) =
                    (Arc::clone(&progress), self.stop.clone(), self.max_drift);
                let emitted = Arc::new(AtomicU64::new(0));
                let counter = Arc::clone(&emitted);
                match spawn(&name, move || {
                    source::run_source(sid, source, router, tracker, stop, drift, counter)
                }) {
                    Ok(handle) => running.push(Running {
                        step: sid,
                        is_source: true,
                        handle,
                        emitted,
                    }),
                    Err(e) => {
                        progress.close_source(sid);
                        spawn_error = spawn_error.or(Some(e))
                    }
                }
                continue;
            }
            let n = instances[sid];
            for i in 0..n {
                let ctx = step.context(i, n);
                let exec = match graph.instantiate(sid, &ctx) {
                    Ok(exec) => exec,
                    Err(e) => {
                        spawn_error = spawn_error.or(Some(e));
                        continue;
                    }
                };
                let chans = &channels[sid];
                let rx = chans.receivers[i.min(chans.receivers.len() - 1)].clone();
                let w = Worker {
                    step: sid,
                    exec,
                    inbox: Inbox::new(rx, chans.wake_rx[i].clone()),
                    router: router.clone(),
                    progress: Arc::clone(&progress),
                    bundle_size: self.bundle_size,
                    max_bundle_time: self.max_bundle_time,
                    metrics: WorkerMetrics::new(step.inputs().len(), step.outputs().len()),
                    out: Outputs::new(),
                    held_at: None,
                    watermark: Timestamp::MIN,
                };
                match spawn(&name, move || w.run()) {
                    Ok(handle) => running.push(Running {
                        step: sid,
                        is_source: false,
                        handle,
                        emitted: Arc::default(),
                    }),
                    Err(e) => spawn_error = spawn_error.or(Some(e)),
                }
            }
        }
        drop(channels);
        if let Some(e) = spawn_error {
            shared.fail(e);
            progress.wake_all();
        }

        let mut per_step: Vec<WorkerMetrics> = graph
            .steps()
            .map(|s| WorkerMetrics::new(s.inputs().len(), s.outputs().len()))
            .collect();
        let (workers, sources): (Vec<Running>, Vec<Running>) =
            running.into_iter().partition(|r| !r.is_source);
        for r in workers {
            match r.handle.join() {
                Ok(m) => per_step[r.step].merge(&m),
                Err(_) => shared.fail(Error::Worker {
                    step: graph
                        .step(r.step)
                        .map(|s| s.name().to_string())
                        .unwrap_or_default(),
                    message: String::from("worker thread panicked outside user code"),
                }),
            }
        }
        for r in sources {
            // A source blocked reading (stdin) cannot be interrupted: once the run has failed
            // or was stopped, leave it; its next element is refused and it ends.
            if (shared.aborted() || self.stop.is_stopped()) && !r.handle.is_finished() {
                // What it emitted before it was stopped still counts.
                if let Some(out) = per_step[r.step].out.first_mut() {
                    *out += r.emitted.load(Ordering::SeqCst);
                }
                continue;
            }
            if let Ok(m) = r.handle.join() {
                per_step[r.step].merge(&m);
            }
        }
        if let Some(e) = shared.take_error() {
            return Err(e);
        }
        let report = build_report(&graph, &per_step, &instances, started);
        check_edges(&graph, &per_step)?;
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
        .steps()
        .zip(per_step)
        .zip(workers)
        .map(|((step, m), &workers)| {
            let outputs: Vec<(String, u64)> = step
                .outputs()
                .iter()
                .zip(&m.out)
                .filter_map(|(&c, &n)| graph.collection(c).map(|c| (c.port_name().to_string(), n)))
                .collect();
            let elements_out = m
                .out
                .iter()
                .enumerate()
                .filter(|(p, _)| Some(*p) != step.dead_letter_port())
                .map(|(_, n)| n)
                .sum();
            let elements_in = if step.kind() == StepKind::Source {
                elements_out
            } else {
                m.inp.iter().sum()
            };
            StepMetrics {
                name: step.name().to_string(),
                kind: step.kind(),
                workers,
                elements_in,
                elements_out,
                outputs,
                dead_lettered: m.dead_lettered,
                filtered: m.filtered,
                written: m.written,
                late: m.late,
                busy: m.busy,
                max_queued: m.max_queued,
                max_held: m.max_held,
                accounting: step.accounting(),
            }
        })
        .collect();
    RunReport {
        steps,
        wall_time: started.elapsed(),
        inference: graph.inference_report(),
    }
}

/// Every element a step emitted on a collection must have been received by each reader, and
/// every exact step must balance. A mismatch is a runner bug; report it rather than hide it.
fn check_edges(graph: &Graph, per_step: &[WorkerMetrics]) -> Result<()> {
    let mut problems = Vec::new();
    for col in graph.collections() {
        let (producer, port) = col.producer();
        let sent = per_step[producer].out.get(port).copied().unwrap_or(0);
        for (t, in_port) in col.consumers() {
            let got = per_step[t].inp.get(in_port).copied().unwrap_or(0);
            if got != sent {
                let name = |s: usize| graph.step(s).map(|s| s.name()).unwrap_or("?");
                problems.push(format!(
                    "`{}` emitted {sent} on `{}` but `{}` received {got}",
                    name(producer),
                    col.port_name(),
                    name(t)
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
