//! Runs Tandem pipelines on [timely-dataflow](https://docs.rs/timely): several worker threads
//! per process, several processes, several hosts over TCP, through the public
//! [`runner::api`](tandem_pipeline::runner::api) only.
//!
//! Every process runs the same binary, builds the same [`Pipeline`](tandem_pipeline::Pipeline)
//! and calls [`Pipeline::run_with`](tandem_pipeline::Pipeline::run_with) with a
//! [`TimelyRunner`] naming its index among the processes. Each step becomes one timely
//! operator per worker:
//!
//! | step placement | timely |
//! |---|---|
//! | source | opened once per process with `open(process, processes)`, read on the process's first worker, elements dealt round-robin to its workers |
//! | [`PerWorker`](tandem_pipeline::runner::api::Placement::PerWorker) | stays on the worker that produced the element (no exchange) |
//! | [`ByKey`](tandem_pipeline::runner::api::Placement::ByKey) | exchange to worker `key_hash % workers`, encoded with the step's [`ShuffleCodec`](tandem_pipeline::runner::api::ShuffleCodec) when it crosses processes |
//! | [`Single`](tandem_pipeline::runner::api::Placement::Single) | exchange to worker 0 (process 0), encoded with the collection's coder ([`PCollection::with_coder`](tandem_pipeline::PCollection::with_coder)) |
//!
//! The timely frontier is the watermark: an operator holds its capability at
//! `min(input frontier, executor hold)`, so windows fire when every element that could still
//! fall in them has passed, exactly as on the local runner. Elements are serialised only when
//! they leave their process, in the binary wire format.
//!
//! What differs from [`LocalRunner`](tandem_pipeline::LocalRunner):
//! * one instance of every step per worker (a step's own parallelism is ignored);
//! * a bundle is what one operator activation reads (at most `bundle_size` elements);
//! * a source that blocks (stdin) blocks its worker thread;
//! * process 0's [`RunReport`] counts what every process's workers did, with every process's
//!   inference metrics merged (the others send theirs at the end; see `gather`); the other
//!   processes' reports count their own workers. Process 0 holds the results of
//!   single-instance steps (sinks, `collect`).
//!
//! Failures: the first error on any worker fails the run on every process (a control
//! dataflow broadcasts it). A lost peer process (crash, `kill -9`) makes every other
//! process's run return [`Error::Worker`] naming the lost peer within seconds (timely itself
//! has no fault tolerance; its networking panics and its workers would wait forever). A
//! process whose run returned that error must exit: its timely threads are left behind.
//!
//! Recovery: [`TimelyRunner::with_recovery`] commits epochs of inputs (by count or by time)
//! and keyed state atomically and resumes a rerun after the last position every sink and
//! keyed step committed; [`Recovery`] states the guarantee.
//!
//! ```
//! use tandem_pipeline::Pipeline;
//! use tandem_timely::TimelyRunner;
//!
//! let p = Pipeline::new();
//! let sums = p
//!     .create(vec![("a", 1u32), ("b", 2), ("a", 3)])
//!     .map("Own", |(k, v)| (k.to_string(), v))
//!     .combine_per_key("Sum", 0u32, |a, v| a + v)
//!     .with_coder() // lets `collect` gather from other processes too
//!     .collect("Out");
//! p.run_with(&TimelyRunner::new(2))?;
//! let mut got = sums.take();
//! got.sort();
//! assert_eq!(got, vec![("a".to_string(), 4), ("b".to_string(), 2)]);
//! # Ok::<(), tandem_pipeline::Error>(())
//! ```

mod control;
mod envelope;
mod gather;
mod lost_peer;
mod plan;
mod recovery;
mod report;
mod route;
mod source;
mod state;
mod step;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_pipeline::runner::api::SourceInstance;
use tandem_pipeline::{Error, Graph, Result, RunReport, Runner, StopHandle};

pub use crate::recovery::Recovery;
use crate::state::{Counts, RunState};

/// How long a worker parks when it has nothing to do before re-checking for a lost peer.
pub(crate) const PARK: Duration = Duration::from_millis(50);

/// Runs pipelines on timely-dataflow workers: one process of a cluster, or all of a
/// single-process run.
#[derive(Clone, Debug)]
pub struct TimelyRunner {
    workers: usize,
    process: usize,
    addresses: Vec<String>,
    bundle_size: usize,
    stop: StopHandle,
    recovery: Option<Recovery>,
}

impl TimelyRunner {
    /// One process with `workers` worker threads (minimum 1).
    pub fn new(workers: usize) -> Self {
        TimelyRunner {
            workers: workers.max(1),
            process: 0,
            addresses: Vec::new(),
            bundle_size: 64,
            stop: StopHandle::new(),
            recovery: None,
        }
    }

    /// Process `process` of a cluster whose processes listen on `addresses` (`host:port`,
    /// one per process, the same list in every process, as in timely's hosts file), each
    /// with `workers` worker threads. Worker `w` of process `p` is worker `p·workers + w`.
    ///
    /// # Errors
    /// [`Error::InvalidGraph`] (the run cannot be set up) if `process` is not an index into
    /// `addresses` or `addresses` is empty.
    pub fn cluster(workers: usize, process: usize, addresses: Vec<String>) -> Result<Self> {
        if process >= addresses.len() {
            return Err(Error::InvalidGraph {
                reason: format!(
                    "timely process index {process} is not below the number of processes ({})",
                    addresses.len()
                ),
            });
        }
        Ok(TimelyRunner {
            process,
            addresses,
            ..TimelyRunner::new(workers)
        })
    }

    /// Elements per bundle (minimum 1).
    pub fn with_bundle_size(mut self, elements: usize) -> Self {
        self.bundle_size = elements.max(1);
        self
    }

    /// Stops the run's sources when `stop` is triggered (a graceful interrupt): what was read
    /// still runs to completion.
    pub fn with_stop(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// Commits each epoch (every `recovery.epoch_inputs` source positions, or every
    /// `recovery.epoch_interval`) atomically, with the state of every group, combine and
    /// co-group, and on a rerun with the same arguments resumes after the last position every
    /// sink and keyed step instance committed (see [`Recovery`] for the exact guarantee).
    /// Every sink's input needs a coder
    /// ([`PCollection::with_coder`](tandem_pipeline::PCollection::with_coder)): the run is
    /// refused with [`Error::InvalidGraph`] otherwise.
    pub fn with_recovery(mut self, mut recovery: Recovery) -> Self {
        recovery.epoch_inputs = recovery.epoch_inputs.max(1);
        self.recovery = Some(recovery);
        self
    }

    /// How many processes the run spans.
    pub fn processes(&self) -> usize {
        self.addresses.len().max(1)
    }

    fn config(&self) -> timely::Config {
        if self.addresses.len() <= 1 {
            return timely::Config::process(self.workers);
        }
        timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.addresses.clone(),
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        }
    }
}

/// Text of a caught panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        String::from("panicked with a non-string payload")
    }
}

pub(crate) fn runner_error(message: String) -> Error {
    Error::Worker {
        step: String::from("timely"),
        message,
    }
}

impl Runner for TimelyRunner {
    fn run_graph(&self, mut graph: Graph) -> Result<RunReport> {
        let started = Instant::now();
        plan::check(&graph, self.processes(), self.recovery.is_some())?;
        let total_workers = self.workers * self.processes();
        let recovery = self.recovery.clone().map(|r| {
            let instances = plan::logged_instances(&graph, total_workers);
            let committed = r.committed_by_all(&instances, total_workers);
            recovery::Resume {
                recovery: r,
                committed,
                instances: instances.into(),
            }
        });
        let n_steps = graph.steps().len();
        let sources: Vec<Option<SourceInstance>> =
            (0..n_steps).map(|s| graph.take_source(s)).collect();
        let counts: Vec<Counts> = graph
            .steps()
            .map(|s| Counts::new(s.inputs().len(), s.outputs().len()))
            .collect();
        let state = Arc::new(RunState::new(counts));
        let shared = Arc::new(Mutex::new((graph, sources)));
        let lost = lost_peer::watch();
        let settings = plan::Settings {
            process: self.process,
            processes: self.processes(),
            workers: self.workers,
            bundle_size: self.bundle_size,
            stop: self.stop.clone(),
            recovery,
        };
        let guards = {
            let (state, shared, lost) = (Arc::clone(&state), Arc::clone(&shared), lost.clone());
            let workers = self.workers;
            timely::execute(self.config(), move |worker| {
                let built = {
                    let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                    let (graph, sources) = &mut *guard;
                    plan::build(worker, graph, sources, &settings, &state)
                };
                let main = worker.installed_dataflows();
                if let Err(e) = built {
                    state.fail(e);
                }
                let main_done = Rc::new(Cell::new(false));
                control::build(worker, &state, Rc::clone(&main_done));
                let inference = {
                    let shared = Arc::clone(&shared);
                    Arc::new(move || {
                        let guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                        guard.0.inference_report()
                    })
                };
                gather::build(worker, &state, Rc::clone(&main_done), workers, inference);
                while worker.step_or_park(Some(PARK)) {
                    if lost.is_lost() {
                        break;
                    }
                    let installed = worker.installed_dataflows();
                    if !main_done.get() && !main.iter().any(|d| installed.contains(d)) {
                        main_done.set(true);
                        state.worker_done();
                    }
                }
            })
            .map_err(|e| runner_error(format!("cannot start timely workers: {e}")))?
        };
        // Wait for the workers, but stop waiting as soon as a peer is lost: timely's
        // networking then blocks forever and the process must exit with the error.
        let exit_on_failure = self.recovery.is_some() && self.processes() > 1;
        loop {
            if let Some(message) = lost.message() {
                std::mem::forget(guards);
                return Err(runner_error(message));
            }
            if exit_on_failure && state.local_error_text().is_some() {
                // The workers hold their capabilities (see `StepOp::hold_on_failure`): the
                // process must exit now, which its peers see as a lost peer.
                std::mem::forget(guards);
                return Err(state
                    .take_error()
                    .unwrap_or_else(|| runner_error(String::new())));
            }
            if guards.guards().iter().all(|g| g.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let panicked: Vec<String> = guards.join().into_iter().filter_map(|r| r.err()).collect();
        if let Some(e) = state.take_error() {
            return Err(e);
        }
        if let Some(message) = state.remote_error() {
            return Err(runner_error(format!(
                "the run failed on another worker: {message}"
            )));
        }
        if let Some(message) = lost.message() {
            return Err(runner_error(message));
        }
        if let Some(p) = panicked.first() {
            return Err(runner_error(format!("a timely worker panicked: {p}")));
        }
        let graph = match Arc::try_unwrap(shared) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()).0,
            Err(_) => return Err(runner_error(String::from("workers still hold the graph"))),
        };
        let mut counts = state
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut inference = graph.inference_report();
        // On process 0 of a cluster: every other process's part (see `gather`).
        let peers =
            std::mem::take(&mut *state.peer_reports.lock().unwrap_or_else(|e| e.into_inner()));
        let mut workers = self.workers;
        for peer in &peers {
            for (mine, theirs) in counts.iter_mut().zip(&peer.counts) {
                mine.merge(theirs);
            }
            inference.merge(&peer.inference);
            workers += self.workers;
        }
        Ok(report::build(
            &graph,
            &counts,
            workers,
            inference,
            started.elapsed(),
        ))
    }
}
