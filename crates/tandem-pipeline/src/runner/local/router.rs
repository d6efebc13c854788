//! Routes a step's outputs into the input channels of the steps that read them, with
//! backpressure: a send blocks while the consumer's bounded channel is full.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::element::{CloneFn, Element};
use crate::error::Error;
use crate::exec::Outputs;
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::shared::{Shared, Stop};
use crate::window::Window;

/// A message on a step's input channel: which input port, and the element.
pub(crate) type Msg = (usize, Element);

/// How often a blocked send re-checks whether the run was aborted.
const ABORT_POLL: Duration = Duration::from_millis(20);

/// Where one output port's elements go.
pub(crate) struct PortRoute {
    pub(crate) consumers: Vec<(Sender<Msg>, usize)>,
    pub(crate) clone: CloneFn,
}

pub(crate) struct Router {
    pub(crate) step: String,
    pub(crate) ports: Vec<PortRoute>,
    pub(crate) dead_letter_port: Option<usize>,
    pub(crate) shared: Arc<Shared>,
}

impl Router {
    /// Another router with the same routes, for another worker of the step.
    pub(crate) fn fork(&self) -> Router {
        Router {
            step: self.step.clone(),
            ports: self
                .ports
                .iter()
                .map(|p| PortRoute {
                    consumers: p.consumers.clone(),
                    clone: p.clone,
                })
                .collect(),
            dead_letter_port: self.dead_letter_port,
            shared: Arc::clone(&self.shared),
        }
    }

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

    /// Sends `elem` to every consumer of output `port` (cloning for all but the last).
    pub(crate) fn route(&self, port: usize, elem: Element) -> Result<(), Stop> {
        let Some(route) = self.ports.get(port) else {
            self.shared.fail(Error::Worker {
                step: self.step.clone(),
                message: format!("emitted to nonexistent output port {port}"),
            });
            return Err(Stop);
        };
        let Some(((last_tx, last_port), rest)) = route.consumers.split_last() else {
            // Nobody reads this output; the count in the metrics still records it.
            return Ok(());
        };
        for (tx, in_port) in rest {
            let copy = Element {
                value: (route.clone)(&elem.value),
                window: elem.window,
            };
            self.send(tx, (*in_port, copy))?;
        }
        self.send(last_tx, (*last_port, elem))
    }

    /// Publishes everything buffered in `out`: outputs first, then failures (dead-letter
    /// output, or abort the run with an error naming the step and element).
    pub(crate) fn publish(&self, out: &mut Outputs, m: &mut WorkerMetrics) -> Result<(), Stop> {
        m.filtered += std::mem::take(&mut out.filtered);
        m.written += std::mem::take(&mut out.written);
        for (port, elem) in std::mem::take(&mut out.pending) {
            if let Some(c) = m.out.get_mut(port) {
                *c += 1;
            }
            self.route(port, elem)?;
        }
        for failure in std::mem::take(&mut out.failures) {
            match self.dead_letter_port {
                Some(port) => {
                    m.dead_lettered += 1;
                    if let Some(c) = m.out.get_mut(port) {
                        *c += 1;
                    }
                    let window = out.window.unwrap_or(Window::Global);
                    self.route(
                        port,
                        Element {
                            value: failure.dead_letter,
                            window,
                        },
                    )?;
                }
                None => {
                    self.shared.fail(Error::ElementFailed {
                        step: self.step.clone(),
                        element: failure.element,
                        message: failure.message,
                    });
                    return Err(Stop);
                }
            }
        }
        Ok(())
    }
}
