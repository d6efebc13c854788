//! Routes a step's outputs into the input channels of the steps that read them, with
//! backpressure (a send blocks while the consumer's bounded channel is full), by key for
//! steps placed [`Placement::ByKey`], and counted in the progress tracker before each send.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::element::{CloneFn, Element};
use crate::error::Error;
use crate::runner::api::{Outputs, ShuffleCodec};
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::progress::{input, Progress};
use crate::runner::local::shared::{Shared, Stop};
use crate::timestamp::Timestamp;

/// A message on a step's input channel: which input port, and the element.
pub(crate) type Msg = (usize, Element);

/// How often a blocked send re-checks whether the run was aborted.
const ABORT_POLL: Duration = Duration::from_millis(20);

/// One consumer of an output port.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) step: usize,
    pub(crate) port: usize,
    /// One shared channel, or one per instance for a keyed step.
    pub(crate) senders: Vec<Sender<Msg>>,
    /// For keyed steps: the codec of `port`, whose key hash picks the instance.
    pub(crate) codec: Option<Arc<dyn ShuffleCodec>>,
}

/// Where one output port's elements go.
#[derive(Clone)]
pub(crate) struct PortRoute {
    pub(crate) targets: Vec<Target>,
    pub(crate) clone: CloneFn,
}

#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) step: String,
    pub(crate) ports: Vec<PortRoute>,
    pub(crate) dead_letter_port: Option<usize>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) progress: Arc<Progress>,
}

impl Router {
    fn send(&self, tx: &Sender<Msg>, mut msg: Msg) -> Result<(), Stop> {
        loop {
            match tx.send_timeout(msg, ABORT_POLL) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(m)) => {
                    if self.shared.aborted() {
                        return Err(Stop);
                    }
                    msg = m;
                }
                // Consumers only go away when the run is aborting.
                Err(SendTimeoutError::Disconnected(_)) => return Err(Stop),
            }
        }
    }

    fn fail(&self, message: String) -> Stop {
        self.shared.fail(Error::Worker {
            step: self.step.clone(),
            message,
        });
        self.progress.wake_all();
        Stop
    }

    /// The steps reading output `port` (for counting an element before it is routed).
    pub(crate) fn target_steps(&self, port: usize) -> Vec<usize> {
        self.ports
            .get(port)
            .map(|r| r.targets.iter().map(|t| t.step).collect())
            .unwrap_or_default()
    }

    /// Sends `elem` to every consumer of output `port` (cloning for all but the last). When
    /// `counted` is false the element is first counted at each consumer's input.
    pub(crate) fn route(&self, port: usize, elem: Element, counted: bool) -> Result<(), Stop> {
        let Some(route) = self.ports.get(port) else {
            return Err(self.fail(format!("emitted to nonexistent output port {port}")));
        };
        if elem.timestamp.is_max() {
            // `MAX` is the end-of-input watermark: an element counted there would not hold
            // any watermark back, and its reader could end with it still queued.
            return Err(self.fail(format!(
                "emitted an element stamped Timestamp::MAX on output port {port}; \
                 the latest timestamp an element may carry is {}",
                Timestamp(u64::MAX - 1).0
            )));
        }
        let Some((last, rest)) = route.targets.split_last() else {
            // Nobody reads this output; the count in the metrics still records it.
            return Ok(());
        };
        if !counted {
            let changes: Vec<_> = route
                .targets
                .iter()
                .map(|t| (input(t.step), elem.timestamp, 1))
                .collect();
            self.progress.update(&changes);
        }
        for t in rest {
            let copy = Element {
                value: (route.clone)(&elem.value),
                timestamp: elem.timestamp,
                window: elem.window,
            };
            self.deliver(t, copy)?;
        }
        self.deliver(last, elem)
    }

    fn deliver(&self, t: &Target, elem: Element) -> Result<(), Stop> {
        let instance = match &t.codec {
            Some(codec) if t.senders.len() > 1 => match codec.key_hash(&elem.value) {
                Ok(h) => (h % t.senders.len() as u64) as usize,
                Err(e) => return Err(self.fail(e.to_string())),
            },
            _ => 0,
        };
        match t.senders.get(instance) {
            Some(tx) => self.send(tx, (t.port, elem)),
            None => Err(self.fail(format!("no instance {instance} of step #{}", t.step))),
        }
    }

    /// Publishes everything buffered in `out`: outputs first, then failures (dead-letter
    /// output, or abort the run with an error naming the step and element).
    pub(crate) fn publish(&self, out: &mut Outputs, m: &mut WorkerMetrics) -> Result<(), Stop> {
        let counts = out.take_counts();
        m.filtered += counts.filtered;
        m.written += counts.written;
        m.late += counts.late;
        for (port, elem) in out.take_elements() {
            if let Some(c) = m.out.get_mut(port) {
                *c += 1;
            }
            self.route(port, elem, false)?;
        }
        for failure in out.take_failures() {
            match self.dead_letter_port {
                Some(port) => {
                    m.dead_lettered += 1;
                    if let Some(c) = m.out.get_mut(port) {
                        *c += 1;
                    }
                    let elem = Element {
                        value: failure.dead_letter,
                        timestamp: failure.timestamp,
                        window: failure.window,
                    };
                    self.route(port, elem, false)?;
                }
                None => {
                    self.shared.fail(Error::ElementFailed {
                        step: self.step.clone(),
                        element: failure.element,
                        message: failure.message,
                    });
                    self.progress.wake_all();
                    return Err(Stop);
                }
            }
        }
        Ok(())
    }
}
