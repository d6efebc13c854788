//! Counters one worker keeps privately (no contention) and merges at the end of the run.

use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub(crate) struct WorkerMetrics {
    /// Elements received per input port.
    pub(crate) inp: Vec<u64>,
    /// Elements emitted per output port (dead letters included).
    pub(crate) out: Vec<u64>,
    pub(crate) dead_lettered: u64,
    pub(crate) filtered: u64,
    pub(crate) written: u64,
    pub(crate) late: u64,
    pub(crate) busy: Duration,
    pub(crate) max_queued: usize,
    /// The most input elements the instance held at once (summed over instances on merge).
    pub(crate) max_held: usize,
}

impl WorkerMetrics {
    pub(crate) fn new(inputs: usize, outputs: usize) -> Self {
        Self {
            inp: vec![0; inputs],
            out: vec![0; outputs],
            ..Self::default()
        }
    }

    pub(crate) fn merge(&mut self, other: &WorkerMetrics) {
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
        self.max_queued = self.max_queued.max(other.max_queued);
        self.max_held += other.max_held;
    }
}
