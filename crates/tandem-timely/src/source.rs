//! The operator of a source step.
//!
//! Each process opens its share of the source once ([`SourceInstance::open`]`(process,
//! processes)`), on its first worker, so every input is read exactly once over the cluster.
//! A reader thread pulls the events into a bounded channel (backpressure) and activates the
//! operator, so a source that blocks (a channel, stdin) never blocks the worker: windows
//! downstream still fire and timers still run while it waits.
//! Elements are dealt round-robin to the process's workers for the per-worker steps that read
//! them (a move inside the process, never serialised), or addressed by key / to worker 0 for
//! keyed and single-instance readers. The operator holds a capability at the source's
//! watermark and drops it when the source ends, fails, or the run is stopped.
//!
//! [`SourceInstance::open`]: tandem_pipeline::runner::api::SourceInstance::open

use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, TryRecvError};
use std::rc::Rc;
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
/// Events the reader thread may run ahead of the operator.
const READ_AHEAD: usize = 1024;

type Event = Result<SourceEvent<AnyBox>, Error>;

/// Starts the thread reading `events` into a bounded channel, activating the operator after
/// each event. It ends at the end of the source, or when the operator is gone (run over).
fn spawn_reader(
    name: &str,
    events: EventIter<AnyBox>,
    activator: timely::scheduling::SyncActivator,
    stop: StopHandle,
) -> Result<Receiver<Event>, Error> {
    let (tx, rx) = bounded(READ_AHEAD);
    std::thread::Builder::new()
        .name(format!("tandem:{name}"))
        .spawn(move || {
            for event in events {
                if stop.is_stopped() || tx.send(event).is_err() {
                    break;
                }
                let _ = activator.activate();
            }
            drop(tx);
            let _ = activator.activate();
        })
        .map_err(|e| Error::Worker {
            step: name.to_string(),
            message: format!("cannot start the source reader thread: {e}"),
        })?;
    Ok(rx)
}

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
    /// Elements stamped below this belong to committed epochs: read, never emitted.
    pub(crate) skip_below: u64,
    /// See `StepOp::hold_on_failure`.
    pub(crate) hold_on_failure: bool,
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
    let path = builder.operator_info().address;
    let activator = scope.activator_for(Rc::clone(&path));
    let mut events = match op.events.take() {
        Some(iter) => {
            let sync = scope.worker().sync_activator_for(path.to_vec());
            // A stop must reach the operator even while the reader is blocked reading.
            let on_stop = scope.worker().sync_activator_for(path.to_vec());
            op.stop.on_stop(move || {
                let _ = on_stop.activate();
            });
            match spawn_reader(&op.name, iter, sync, op.stop.clone()) {
                Ok(rx) => Some(rx),
                Err(e) => {
                    op.state.fail(e);
                    None
                }
            }
        }
        None => None,
    };
    builder.build(move |caps| {
        let mut caps = caps;
        let mut counts = Counts::new(0, 1);
        let mut dealt = 0usize;
        let mut pending = Vec::new();
        move |_frontiers| {
            if caps.is_empty() {
                return;
            }
            let mut done = op.state.aborted() || op.stop.is_stopped();
            let start = Instant::now();
            match (done, events.as_ref()) {
                (false, Some(rx)) => {
                    for _ in 0..EVENTS_PER_ACTIVATION {
                        let event = match rx.try_recv() {
                            Ok(event) => event,
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                done = true;
                                break;
                            }
                        };
                        match event {
                            Ok(SourceEvent::Element { value, timestamp }) => {
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
                                if timestamp.0 < op.skip_below {
                                    continue;
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
                            Ok(SourceEvent::Watermark(t)) => {
                                // Elements already read are sent at their own times first.
                                flush(&mut pending, &caps, &mut outputs);
                                for cap in caps.iter_mut() {
                                    if t.0 > *cap.time() {
                                        cap.downgrade(&t.0);
                                    }
                                }
                            }
                            Err(e) => {
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
                }
                _ => done = true,
            }
            counts.busy += start.elapsed();
            flush(&mut pending, &caps, &mut outputs);
            if done {
                if !(op.hold_on_failure && op.state.aborted()) {
                    caps.clear();
                }
                events = None;
                op.state.add_counts(op.sid, &counts);
            } else if events.as_ref().is_some_and(|rx| !rx.is_empty()) {
                activator.activate();
            }
        }
    });
    streams
}

/// Sends what was read at timely time `max(timestamp, capability)`.
fn flush(
    pending: &mut Vec<(usize, Timestamp, Envelope)>,
    caps: &[timely::dataflow::operators::Capability<u64>],
    outputs: &mut [timely::dataflow::channels::pushers::Output<u64, Vec<Envelope>>],
) {
    pending.sort_by_key(|(o, t, _)| (*o, *t));
    for (o, t, env) in pending.drain(..) {
        if let (Some(cap), Some(out)) = (caps.get(o), outputs.get_mut(o)) {
            let at = cap.delayed(&t.0.max(*cap.time()));
            out.activate().give(&at, &mut vec![env]);
        }
    }
}
