//! `collect`: gather a collection into memory, for tests and small results.

use std::sync::{Arc, Mutex};

use crate::element::Elem;
use crate::error::BoxError;
use crate::io::write::Sink;
use crate::pcollection::PCollection;

/// The elements a [`PCollection::collect`] step received; read it after the run.
#[derive(Clone, Debug)]
pub struct Collected<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Collected<T> {
    /// Moves the collected elements out (in arrival order; parallel steps upstream make that
    /// order nondeterministic).
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

struct CollectSink<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T: Elem> Sink<T> for CollectSink<T> {
    fn write(&mut self, element: T) -> Result<(), BoxError> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(element);
        Ok(())
    }
}

impl<T: Elem> PCollection<T> {
    /// Gathers every element in memory. Holds the whole collection: use it for tests and
    /// small results, a file sink otherwise.
    pub fn collect(&self, name: impl Into<String>) -> Collected<T> {
        let items = Arc::new(Mutex::new(Vec::new()));
        self.write(
            name,
            CollectSink {
                items: Arc::clone(&items),
            },
        );
        Collected { items }
    }
}
