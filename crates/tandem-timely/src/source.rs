//! The operator of a source step.
//!
//! Each process opens its share of the source once ([`SourceInstance::open`]`(process,
//! processes)`), on its first worker, so every input is read exactly once over the cluster.
//! Elements are dealt round-robin to the process's workers for the per-worker steps that read
//! them (a move inside the process, never serialised), or addressed by key / to worker 0 for
//! keyed and single-instance readers. The operator holds a capability at the source's
//! watermark and drops it when the source ends, fails, or the run is stopped.
//!
//! [`SourceInstance::open`]: tandem_pipeline::runner::api::SourceInstance::open

use std::sync::Arc;
use std::time::Instant;

use tandem_pipeline::runner::api::{AnyBox, Element, EventIter, SourceEvent};
use tandem_pipeline::{Error, StopHandle, Timestamp};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::Scope;

use crate::envelope::Envelope;
use crate::route::{address, PortRoute};
use crate::state::{Counts, RunState};
use crate::step::ElemStream;

/// Events read per activation before yielding to the other operators.
const EVENTS_PER_ACTIVATION: usize = 256;

/// A source step's instance on one worker; `events` is `None` on workers that do not read.
pub(crate) struct SourceOp {
    pub(crate) sid: usize,
    pub(crate) name: String,
    pub(crate) events: Option<EventIter<AnyBox>>,
    pub(crate) route: Option<PortRoute>,
    pub(crate) state: Arc<RunState>,
    pub(crate) stop: StopHandle,
    /// The process's workers: `first..first + count`.
    pub(crate) first: usize,
    pub(crate) count: usize,
    pub(crate) peers: usize,
}

/// Adds the source operator to `scope`; returns one stream per timely output.
pub(crate) fn build_source<'s>(
    scope: Scope<'s, u64>,
    n_outputs: usize,
    mut op: SourceOp,
) -> Vec<ElemStream<'s>> {
    let mut builder = OperatorBuilder::new(op.name.clone(), scope);
    let mut outputs = Vec::with_capacity(n_outputs);
    let mut streams = Vec::with_capacity(n_outputs);
    for _ in 0..n_outputs {
        let (out, stream) = builder.new_output::<Vec<Envelope>>();
        outputs.push(out);
        streams.push(stream);
    }
    let activator = scope.activator_for(builder.operator_info().address);
    builder.build(move |caps| {
        let mut caps = caps;
        let mut counts = Counts::new(0, 1);
        let mut dealt = 0usize;
        let mut pending = Vec::new();
        move |_frontiers| {
            if caps.is_empty() && op.events.is_none() {
                return;
            }
            let mut done = op.state.aborted() || op.stop.is_stopped();
            let start = Instant::now();
            if let (false, Some(events)) = (done, op.events.as_mut()) {
                for _ in 0..EVENTS_PER_ACTIVATION {
                    match events.next() {
                        None => {
                            done = true;
                            break;
                        }
                        Some(Ok(SourceEvent::Element { value, timestamp })) => {
                            if timestamp.is_max() {
                                op.state.fail(Error::SourceFailed {
                                    step: op.name.clone(),
                                    message: String::from(
                                        "element stamped Timestamp::MAX (the end-of-input \
                                         watermark); the latest timestamp an element may \
                                         carry is u64::MAX - 1",
                                    ),
                                });
                                done = true;
                                break;
                            }
                            counts.out[0] += 1;
                            let here = op.first + dealt % op.count.max(1);
                            dealt += 1;
                            if let Some(route) = &op.route {
                                let elem = Element::new(value, timestamp);
                                if let Err(message) =
                                    address(route, elem, here, op.peers, &mut pending)
                                {
                                    op.state.fail(Error::SourceFailed {
                                        step: op.name.clone(),
                                        message,
                                    });
                                    done = true;
                                    break;
                                }
                            }
                        }
                        Some(Ok(SourceEvent::Watermark(t))) => {
                            for cap in caps.iter_mut() {
                                if t.0 > *cap.time() {
                                    cap.downgrade(&t.0);
                                }
                            }
                        }
                        Some(Err(e)) => {
                            op.state.fail(match e {
                                e @ (Error::Io { .. }
                                | Error::Json { .. }
                                | Error::NoMatch { .. }
                                | Error::InvalidGlob { .. }) => e,
                                other => Error::SourceFailed {
                                    step: op.name.clone(),
                                    message: other.to_string(),
                                },
                            });
                            done = true;
                            break;
                        }
                    }
                }
            } else {
                done = true;
            }
            counts.busy += start.elapsed();
            pending.sort_by_key(|(o, t, _): &(usize, Timestamp, Envelope)| (*o, *t));
            for (o, t, env) in pending.drain(..) {
                if let (Some(cap), Some(out)) = (caps.get(o), outputs.get_mut(o)) {
                    let at = cap.delayed(&t.0.max(*cap.time()));
                    out.activate().give(&at, &mut vec![env]);
                }
            }
            if done {
                caps.clear();
                op.events = None;
                op.state.add_counts(op.sid, &counts);
            } else {
                activator.activate();
            }
        }
    });
    streams
}
