//! What a worker waits on between calls: its input channel, its wake channel (progress
//! elsewhere may have moved its watermark) and a timer deadline.
//!
//! A closed input is not an event. Once every upstream instance has finished, the input
//! channel is disconnected, and a disconnected channel is always "ready" to a `select`: a
//! worker that kept selecting on it would spin on a core until its watermark reached the end.
//! That happens whenever a sibling instance of the same step is still busy with the last
//! elements (a model call of many seconds): the idle instance took a whole core from the
//! model's kernels. So the inbox stops watching its input once it has seen it closed and waits
//! on the wake channel and the deadline alone.

use std::time::Instant;

use crossbeam_channel::{Receiver, Select, TryRecvError};

use crate::runner::local::router::Msg;

/// A worker's input and wake channels.
pub(crate) struct Inbox {
    input: Receiver<Msg>,
    wake: Receiver<()>,
    /// The input was seen disconnected and empty: nothing more can arrive on it.
    input_closed: bool,
}

/// Why [`Inbox::next`] returned.
pub(crate) enum Event {
    /// An element on the input.
    Element(Msg),
    /// A wake-up, or the input just closed: re-read the watermark.
    Woken,
    /// The deadline passed.
    Timeout,
}

impl Inbox {
    pub(crate) fn new(input: Receiver<Msg>, wake: Receiver<()>) -> Self {
        Inbox {
            input,
            wake,
            input_closed: false,
        }
    }

    /// Elements queued on the input.
    pub(crate) fn queued(&self) -> usize {
        self.input.len()
    }

    /// The next element, wake-up or timeout, blocking until one happens (or until `deadline`).
    /// With neither an open input nor a deadline it waits for a wake-up: the progress tracker
    /// holds the wake channel's senders for the whole run, and wakes every worker when the
    /// run ends or fails.
    pub(crate) fn next(&mut self, deadline: Option<Instant>) -> Event {
        if !self.input_closed {
            match self.input.try_recv() {
                Ok(msg) => return Event::Element(msg),
                Err(TryRecvError::Disconnected) => {
                    self.input_closed = true;
                    return Event::Woken;
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        let mut sel = Select::new();
        sel.recv(&self.wake);
        let i_input = (!self.input_closed).then(|| sel.recv(&self.input));
        let op = match deadline {
            Some(d) => match sel.select_deadline(d) {
                Ok(op) => op,
                Err(_) => return Event::Timeout,
            },
            None => sel.select(),
        };
        if Some(op.index()) == i_input {
            match op.recv(&self.input) {
                Ok(msg) => Event::Element(msg),
                Err(_) => {
                    self.input_closed = true;
                    Event::Woken
                }
            }
        } else {
            let _ = op.recv(&self.wake);
            Event::Woken
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{bounded, unbounded};
    use std::time::Duration;

    /// A closed input wakes the worker once (to re-read its watermark), then no more: the next
    /// wait lasts until the deadline instead of returning at once, again and again.
    #[test]
    fn a_closed_input_is_seen_once_then_the_inbox_waits() {
        let (tx, rx) = unbounded::<Msg>();
        let (_wake_tx, wake_rx) = bounded(1);
        let mut inbox = Inbox::new(rx, wake_rx);
        drop(tx);
        assert!(matches!(inbox.next(None), Event::Woken));
        let deadline = Instant::now() + Duration::from_millis(50);
        for _ in 0..3 {
            assert!(matches!(inbox.next(Some(deadline)), Event::Timeout));
        }
        assert!(Instant::now() >= deadline);
    }

    /// The wake channel still works once the input is closed.
    #[test]
    fn a_wake_up_ends_the_wait_after_the_input_closed() {
        let (tx, rx) = unbounded::<Msg>();
        let (wake_tx, wake_rx) = bounded(1);
        let mut inbox = Inbox::new(rx, wake_rx);
        drop(tx);
        assert!(matches!(inbox.next(None), Event::Woken));
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            wake_tx.send(()).ok();
        });
        assert!(matches!(inbox.next(None), Event::Woken));
        waker.join().ok();
    }
}
