//! Channel endpoints: an unbounded source fed by another thread, and a sink that forwards to
//! another thread (for consuming a streaming pipeline's output while it runs).

use crossbeam_channel::{Receiver, Sender};

use crate::element::Elem;
use crate::error::{BoxError, Error};
use crate::io::source::{ElementIter, Source};
use crate::io::write::Sink;

/// Elements sent on a channel, until every sender is dropped. Unbounded.
pub struct ChannelSource<T> {
    receiver: Receiver<T>,
}

impl<T> ChannelSource<T> {
    /// Reads from `receiver`.
    pub fn new(receiver: Receiver<T>) -> Self {
        Self { receiver }
    }
}

impl<T: Elem> Source for ChannelSource<T> {
    type Item = T;
    fn default_name(&self) -> String {
        String::from("ReadChannel")
    }
    fn is_bounded(&self) -> bool {
        false
    }
    fn open(self) -> Result<ElementIter<T>, Error> {
        Ok(Box::new(self.receiver.into_iter().map(Ok)))
    }
}

/// Sends each element on a channel. A dropped receiver fails the element.
pub struct ChannelSink<T> {
    sender: Sender<T>,
}

impl<T> ChannelSink<T> {
    /// Writes into `sender`.
    pub fn new(sender: Sender<T>) -> Self {
        Self { sender }
    }
}

impl<T: Elem> Sink<T> for ChannelSink<T> {
    fn write(&mut self, element: T) -> Result<(), BoxError> {
        self.sender
            .send(element)
            .map_err(|_| BoxError::from("the receiving end of the channel was dropped"))
    }
}
