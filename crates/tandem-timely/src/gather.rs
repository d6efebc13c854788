//! The gather dataflow: at the end of a run every process sends its counters and inference
//! metrics to worker 0, so that process 0's [`RunReport`](tandem_pipeline::RunReport) (the
//! one the CLI prints its summary from) covers the whole cluster.
//!
//! Beside the main dataflow each worker runs a sender and a listener. The sender of a
//! process's first worker waits until all of the process's workers have completed the main
//! dataflow (then every operator has added its counters), encodes the process's counters
//! and inference report, sends them to worker 0 unless it is on process 0 itself, and drops
//! its capability; the other workers' senders drop theirs once their own main dataflow is
//! done. A failed run sends nothing: the run's error is the result, not a report. Worker 0's
//! listener stores what arrives; its dataflow completes only when every sender has dropped
//! its capability, so worker 0 never finishes before every process has reported.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use tandem_handler::MetricsReport;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::worker::Worker;

use crate::state::{PeerReport, RunState};
use crate::PARK;

/// Adds the gather dataflow to `worker`. `main_done` is set by the worker loop once the
/// main dataflow has completed on this worker; `local_workers` is the number of workers per
/// process; `inference` reads this process's inference metrics.
pub(crate) fn build(
    worker: &mut Worker,
    state: &Arc<RunState>,
    main_done: Rc<Cell<bool>>,
    local_workers: usize,
    inference: Arc<dyn Fn() -> MetricsReport + Send + Sync>,
) {
    let here = worker.index();
    let first_local = here.is_multiple_of(local_workers.max(1));
    let on_process_0 = here < local_workers.max(1);
    let (sender, listener) = (Arc::clone(state), Arc::clone(state));
    worker.dataflow::<u64, _, _>(|scope| {
        let mut b = OperatorBuilder::new(String::from("ReportSend"), scope);
        let (mut out, stream) = b.new_output::<Vec<(u64, Vec<u8>)>>();
        let activator = scope.activator_for(b.operator_info().address);
        b.build(move |caps| {
            let mut caps = caps;
            move |_frontiers| {
                let Some(cap) = caps.first() else {
                    return;
                };
                if sender.aborted() || (main_done.get() && !first_local) {
                    caps.clear();
                    return;
                }
                if !main_done.get() || sender.workers_done() < local_workers {
                    activator.activate_after(PARK);
                    return;
                }
                if !on_process_0 {
                    let report = PeerReport {
                        counts: sender
                            .counts
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone(),
                        inference: inference(),
                    };
                    match postcard::to_allocvec(&report) {
                        Ok(bytes) => out.activate().give(cap, &mut vec![(0, bytes)]),
                        Err(e) => sender.fail(crate::runner_error(format!(
                            "cannot encode this process's run report: {e}"
                        ))),
                    }
                }
                caps.clear();
            }
        });
        let mut b = OperatorBuilder::new(String::from("ReportListen"), scope);
        let mut input = b.new_input(stream, Exchange::new(|x: &(u64, Vec<u8>)| x.0));
        b.build(move |_caps| {
            move |_frontiers| {
                input.for_each(|_cap, data| {
                    for (_, bytes) in data.drain(..) {
                        match postcard::from_bytes::<PeerReport>(&bytes) {
                            Ok(report) => listener
                                .peer_reports
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(report),
                            Err(e) => listener.fail(crate::runner_error(format!(
                                "cannot decode another process's run report: {e}"
                            ))),
                        }
                    }
                });
            }
        });
    });
}
