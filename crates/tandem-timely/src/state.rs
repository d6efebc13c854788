//! What the worker threads of one process share: the first error, the abort flag, and the
//! counters each worker adds at the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_handler::MetricsReport;
use tandem_pipeline::Error;

/// Counters of one step on one worker (summed over the process's workers).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) inp: Vec<u64>,
    pub(crate) out: Vec<u64>,
    pub(crate) dead_lettered: u64,
    pub(crate) filtered: u64,
    pub(crate) written: u64,
    pub(crate) late: u64,
    pub(crate) busy: Duration,
    pub(crate) max_held: usize,
}

impl Counts {
    pub(crate) fn new(inputs: usize, outputs: usize) -> Self {
        Counts {
            inp: vec![0; inputs],
            out: vec![0; outputs],
            ..Counts::default()
        }
    }

    pub(crate) fn merge(&mut self, other: &Counts) {
        for (a, b) in self.inp.iter_mut().zip(&other.inp) {
            *a += b;
        }
        for (a, b) in self.out.iter_mut().zip(&other.out) {
            *a += b;
        }
        self.dead_lettered += other.dead_lettered;
        self.filtered += other.filtered;
        self.written += other.written;
        self.late += other.late;
        self.busy += other.busy;
        self.max_held += other.max_held;
    }
}

/// Shared by a process's workers for one run.
pub(crate) struct RunState {
    aborted: AtomicBool,
    error: Mutex<Option<Error>>,
    /// The first failure heard of from another worker (control dataflow).
    remote: Mutex<Option<String>>,
    /// Per step, the counters of the workers that finished.
    pub(crate) counts: Mutex<Vec<Counts>>,
    /// This process's workers whose main dataflow has completed.
    workers_done: AtomicUsize,
    /// On worker 0's process: the other processes' counters and inference metrics.
    pub(crate) peer_reports: Mutex<Vec<PeerReport>>,
}

/// What one process sends to process 0 at the end of a run (see [`crate::gather`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PeerReport {
    /// Per step, the process's counters.
    pub(crate) counts: Vec<Counts>,
    pub(crate) inference: MetricsReport,
}

impl RunState {
    pub(crate) fn new(counts: Vec<Counts>) -> Self {
        RunState {
            aborted: AtomicBool::new(false),
            error: Mutex::new(None),
            remote: Mutex::new(None),
            counts: Mutex::new(counts),
            workers_done: AtomicUsize::new(0),
            peer_reports: Mutex::new(Vec::new()),
        }
    }

    /// Called once by each worker whose main dataflow completed (its counters are added).
    pub(crate) fn worker_done(&self) {
        self.workers_done.fetch_add(1, Ordering::SeqCst);
    }

    /// How many of this process's workers have completed their main dataflow.
    pub(crate) fn workers_done(&self) -> usize {
        self.workers_done.load(Ordering::SeqCst)
    }

    /// Records `err` (the first wins) and tells every operator to wind down.
    pub(crate) fn fail(&self, err: Error) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(err);
        }
        self.aborted.store(true, Ordering::SeqCst);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// The text of this process's own failure, if any.
    pub(crate) fn local_error_text(&self) -> Option<String> {
        let slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|e| e.to_string())
    }

    /// Another worker reported `message`: wind down, and fail the run with it unless this
    /// process has its own error.
    pub(crate) fn remote_failed(&self, message: String) {
        let mut slot = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(message);
        }
        self.aborted.store(true, Ordering::SeqCst);
    }

    /// The failure heard of from another worker, if any.
    pub(crate) fn remote_error(&self) -> Option<String> {
        self.remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn take_error(&self) -> Option<Error> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Adds one worker's counters of step `sid`.
    pub(crate) fn add_counts(&self, sid: usize, c: &Counts) {
        let mut all = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = all.get_mut(sid) {
            slot.merge(c);
        }
    }
}
