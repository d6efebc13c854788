//! State shared by all of a run's threads: the abort flag and the first error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::Error;

#[derive(Default)]
pub(crate) struct Shared {
    aborted: AtomicBool,
    error: Mutex<Option<Error>>,
}

impl Shared {
    /// Records `err` (the first one wins) and tells every thread to stop.
    pub(crate) fn fail(&self, err: Error) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(err);
        }
        self.aborted.store(true, Ordering::SeqCst);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    pub(crate) fn take_error(&self) -> Option<Error> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Returned by sends and hooks when the run is stopping; the thread should wind down.
#[derive(Debug)]
pub(crate) struct Stop;
