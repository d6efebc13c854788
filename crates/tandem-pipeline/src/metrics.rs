//! Per-step metrics and the run report `run()` returns.

use std::fmt::Write as _;
use std::time::Duration;

use crate::graph::{Accounting, StepKind};

/// What one step did during a run, summed over its workers.
#[derive(Clone, Debug, PartialEq)]
pub struct StepMetrics {
    /// The step's name.
    pub name: String,
    /// What kind of step it is.
    pub kind: StepKind,
    /// How many parallel instances ran.
    pub workers: usize,
    /// Elements received (for a source: produced).
    pub elements_in: u64,
    /// Elements emitted on every output except the dead-letter output.
    pub elements_out: u64,
    /// Elements emitted per output port, dead letters included, as `(port name, count)`.
    pub outputs: Vec<(String, u64)>,
    /// Input elements routed to the dead-letter output.
    pub dead_lettered: u64,
    /// Input elements a filter deliberately dropped.
    pub filtered: u64,
    /// Elements a sink wrote.
    pub written: u64,
    /// Elements that reached a grouping step after their window had closed (each emitted at
    /// once in a late pane of its own).
    pub late: u64,
    /// Time spent inside the step's code (user code and built-ins), summed over workers.
    pub busy: Duration,
    /// The most elements seen waiting in the step's input channel.
    pub max_queued: usize,
    /// The most input elements the step's instances held at once (a batcher's buffer, a
    /// grouping step's open panes), summed over instances: what bounds its memory.
    pub max_held: usize,
    /// Which balance applies to the counts.
    pub accounting: Accounting,
}

impl StepMetrics {
    /// For steps with [`Accounting::Exact`]: every input is accounted for, as an output, a
    /// dead letter, a filter drop or a sink write. Always true for other steps.
    pub fn is_balanced(&self) -> bool {
        match self.accounting {
            Accounting::Exact => {
                self.elements_in
                    == self.elements_out + self.dead_lettered + self.filtered + self.written
            }
            Accounting::Variable => true,
        }
    }
}

/// The result of a successful run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// One entry per step, in graph order.
    pub steps: Vec<StepMetrics>,
    /// Wall-clock duration of the run.
    pub wall_time: Duration,
    /// Inference metrics of the RunInference steps, per step and model id.
    pub inference: tandem_handler::MetricsReport,
}

impl RunReport {
    /// The metrics of the step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepMetrics> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Total elements sent to dead-letter outputs.
    pub fn dead_lettered(&self) -> u64 {
        self.steps.iter().map(|s| s.dead_lettered).sum()
    }

    /// A table of every step's counts, ending with the accounting verdict.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<32} {:>4} {:>10} {:>10} {:>8} {:>8} {:>8} {:>10}",
            "step", "wkrs", "in", "out", "dead", "filtered", "written", "busy"
        );
        for m in &self.steps {
            let _ = writeln!(
                s,
                "{:<32} {:>4} {:>10} {:>10} {:>8} {:>8} {:>8} {:>10.3?}",
                m.name,
                m.workers,
                m.elements_in,
                m.elements_out,
                m.dead_lettered,
                m.filtered,
                m.written,
                m.busy
            );
        }
        let unbalanced: Vec<&str> = self
            .steps
            .iter()
            .filter(|m| !m.is_balanced())
            .map(|m| m.name.as_str())
            .collect();
        if unbalanced.is_empty() {
            let _ = write!(
                s,
                "all elements accounted for (in = out + dead-lettered + filtered + written); {} dead-lettered; wall {:.3?}",
                self.dead_lettered(),
                self.wall_time
            );
        } else {
            let _ = write!(s, "UNBALANCED steps: {}", unbalanced.join(", "));
        }
        s
    }
}

impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}
