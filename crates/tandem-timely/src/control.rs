//! The control dataflow: tells every worker of every process that the run failed somewhere.
//!
//! A failing operator drops its capabilities so the main dataflow winds down, but on its own
//! that would look like a normal end to the other processes. Beside the main dataflow each
//! worker runs a two-operator dataflow: a broadcaster holding a capability until either this
//! process's run failed (then it sends the error to every worker, and drops it) or this
//! worker's main dataflow completed; and a listener recording what it receives. A worker's
//! control dataflow completes only once every broadcaster has dropped its capability, so no
//! worker finishes without having heard of every failure.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::worker::Worker;

use crate::state::RunState;
use crate::PARK;

/// Adds the control dataflow to `worker`. `main_done` is set by the worker loop once the
/// main dataflow has completed on this worker.
pub(crate) fn build(worker: &mut Worker, state: &Arc<RunState>, main_done: Rc<Cell<bool>>) {
    let here = worker.index();
    let peers = worker.peers();
    let (sender, listener) = (Arc::clone(state), Arc::clone(state));
    worker.dataflow::<u64, _, _>(|scope| {
        let mut b = OperatorBuilder::new(String::from("FailureBroadcast"), scope);
        let (mut out, stream) = b.new_output::<Vec<(u64, String)>>();
        let activator = scope.activator_for(b.operator_info().address);
        b.build(move |caps| {
            let mut caps = caps;
            move |_frontiers| {
                let Some(cap) = caps.first() else {
                    return;
                };
                if let Some(message) = sender.local_error_text() {
                    let mut buf: Vec<(u64, String)> = (0..peers as u64)
                        .map(|d| (d, format!("worker {here} failed: {message}")))
                        .collect();
                    out.activate().give(cap, &mut buf);
                    caps.clear();
                } else if main_done.get() {
                    caps.clear();
                } else {
                    activator.activate_after(PARK);
                }
            }
        });
        let mut b = OperatorBuilder::new(String::from("FailureListener"), scope);
        let mut input = b.new_input(stream, Exchange::new(|x: &(u64, String)| x.0));
        b.build(move |_caps| {
            move |_frontiers| {
                input.for_each(|_cap, data| {
                    for (_, message) in data.drain(..) {
                        listener.remote_failed(message);
                    }
                });
            }
        });
    });
}
