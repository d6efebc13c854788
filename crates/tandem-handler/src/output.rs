//! What leaves the engine: results and dead letters.

use std::sync::Arc;

use crate::error::HandlerError;
use crate::handler::PredictionResult;

/// An element that could not be served, with the reason. Every pushed element leaves the
/// engine as exactly one [`PredictionResult`] or one `DeadLetter`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter<E> {
    /// The element as pushed.
    pub example: E,
    /// Why it failed (for a poison element: the error of the batch of one that held only it).
    pub error: HandlerError,
    /// The model id that was to serve it.
    pub model_id: Arc<str>,
}

/// Elements completed by one call to `push`, `poll` or `flush`, in completion order.
#[derive(Debug)]
pub struct Completed<E, P> {
    /// Served elements.
    pub results: Vec<PredictionResult<E, P>>,
    /// Failed elements.
    pub dead_letters: Vec<DeadLetter<E>>,
}

impl<E, P> Default for Completed<E, P> {
    fn default() -> Self {
        Completed {
            results: Vec::new(),
            dead_letters: Vec::new(),
        }
    }
}

impl<E, P> Completed<E, P> {
    /// Number of elements completed (served or dead-lettered).
    pub fn len(&self) -> usize {
        self.results.len() + self.dead_letters.len()
    }

    /// Whether nothing completed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves everything into the caller's buffers.
    pub fn drain_into(
        self,
        results: &mut Vec<PredictionResult<E, P>>,
        dead_letters: &mut Vec<DeadLetter<E>>,
    ) {
        results.extend(self.results);
        dead_letters.extend(self.dead_letters);
    }

    /// Appends another call's completions.
    pub fn extend(&mut self, other: Completed<E, P>) {
        self.results.extend(other.results);
        self.dead_letters.extend(other.dead_letters);
    }
}
