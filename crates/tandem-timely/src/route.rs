//! Where a step's output elements go: one timely output per (output port, consumer), the
//! worker each element is addressed to, and the codec that encodes it if it leaves the
//! process.

use std::sync::Arc;

use tandem_pipeline::runner::api::{CloneFn, Element, Placement, ShuffleCodec};
use tandem_pipeline::{Graph, Timestamp};

use crate::envelope::Envelope;

/// How the worker of an element is chosen for one consumer.
#[derive(Clone)]
pub(crate) enum Dest {
    /// The producing worker ([`Placement::PerWorker`] consumers): no exchange.
    Here,
    /// `key_hash % peers` with the consumer's codec ([`Placement::ByKey`]).
    ByKey,
    /// Worker 0 ([`Placement::Single`]).
    First,
}

/// One consumer of an output port.
#[derive(Clone)]
pub(crate) struct Edge {
    /// The timely output of the producing operator feeding this consumer.
    pub(crate) output: usize,
    pub(crate) dest: Dest,
    /// Encodes the element when it crosses processes; also hashes keys for [`Dest::ByKey`].
    pub(crate) codec: Option<Arc<dyn ShuffleCodec>>,
}

/// The consumers of one output port.
#[derive(Clone)]
pub(crate) struct PortRoute {
    pub(crate) edges: Vec<Edge>,
    pub(crate) clone: CloneFn,
}

/// The routes of every output port of step `sid`, numbering timely outputs in port then
/// consumer order. Also returns, per timely output, the consumer `(step, input port)`.
pub(crate) fn routes_of(graph: &Graph, sid: usize) -> (Vec<PortRoute>, Vec<(usize, usize)>) {
    let mut routes = Vec::new();
    let mut consumers = Vec::new();
    let Some(step) = graph.step(sid) else {
        return (routes, consumers);
    };
    for &c in step.outputs() {
        let Some(col) = graph.collection(c) else {
            continue;
        };
        let mut edges = Vec::new();
        for (t, port) in col.consumers() {
            let Some(target) = graph.step(t) else {
                continue;
            };
            let (dest, codec) = match target.placement() {
                Placement::PerWorker => (Dest::Here, None),
                Placement::ByKey(codecs) => (Dest::ByKey, codecs.get(port).cloned()),
                Placement::Single => (Dest::First, col.coder()),
            };
            edges.push(Edge {
                output: consumers.len(),
                dest,
                codec,
            });
            consumers.push((t, port));
        }
        routes.push(PortRoute {
            edges,
            clone: col.clone_fn(),
        });
    }
    (routes, consumers)
}

/// Addresses `elem` to every consumer of `route` (cloning for all but the last), pushing
/// `(timely output, envelope)` into `sink`. `here` is this worker's index, `peers` the number
/// of workers.
pub(crate) fn address(
    route: &PortRoute,
    elem: Element,
    here: usize,
    peers: usize,
    sink: &mut Vec<(usize, Timestamp, Envelope)>,
) -> Result<(), String> {
    let Some((last, rest)) = route.edges.split_last() else {
        return Ok(());
    };
    for edge in rest {
        let copy = Element {
            value: (route.clone)(&elem.value),
            timestamp: elem.timestamp,
            window: elem.window,
        };
        push(edge, copy, here, peers, sink)?;
    }
    push(last, elem, here, peers, sink)
}

fn push(
    edge: &Edge,
    elem: Element,
    here: usize,
    peers: usize,
    sink: &mut Vec<(usize, Timestamp, Envelope)>,
) -> Result<(), String> {
    let dest = match (&edge.dest, &edge.codec) {
        (Dest::Here, _) => here as u64,
        (Dest::First, _) => 0,
        (Dest::ByKey, Some(codec)) => {
            codec.key_hash(&elem.value).map_err(|e| e.to_string())? % peers.max(1) as u64
        }
        (Dest::ByKey, None) => return Err(String::from("keyed input port without a codec")),
    };
    let t = elem.timestamp;
    sink.push((
        edge.output,
        t,
        Envelope::new(elem, dest, edge.codec.clone()),
    ));
    Ok(())
}
