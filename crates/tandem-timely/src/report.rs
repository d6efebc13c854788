//! The [`RunReport`] of a run: what the workers counted, per step (on process 0 of a
//! cluster, every process's workers; on the others, their own).

use std::time::Duration;

use tandem_pipeline::runner::api::Placement;
use tandem_pipeline::{Graph, RunReport, StepKind, StepMetrics};

use crate::state::Counts;

/// Builds the report of a finished run from the counters summed over `workers` workers and
/// their inference metrics.
pub(crate) fn build(
    graph: &Graph,
    counts: &[Counts],
    workers: usize,
    inference: tandem_handler::MetricsReport,
    wall: Duration,
) -> RunReport {
    let steps = graph
        .steps()
        .zip(counts)
        .map(|(step, m)| {
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
                // A single-instance step runs on worker 0 only.
                workers: match step.placement() {
                    Placement::Single => 1,
                    _ => workers,
                },
                elements_in,
                elements_out,
                outputs,
                dead_lettered: m.dead_lettered,
                filtered: m.filtered,
                written: m.written,
                late: m.late,
                busy: m.busy,
                max_queued: 0,
                max_held: m.max_held,
                accounting: step.accounting(),
            }
        })
        .collect();
    RunReport {
        steps,
        wall_time: wall,
        inference,
    }
}
