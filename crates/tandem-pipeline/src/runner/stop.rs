//! [`StopHandle`]: ask a running pipeline to stop reading and finish what is in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

type Listener = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    listeners: Mutex<Vec<Listener>>,
}

/// A graceful stop, shared between the code that decides to stop (a Ctrl-C handler) and the
/// runner. [`stop`](StopHandle::stop) closes every source at once — even one blocked reading
/// stdin — as if its input had ended: elements already read finish their way through the
/// pipeline (every window fires, every sink closes) and the run returns normally. Cheap to
/// clone; clones share the state.
#[derive(Clone, Default)]
pub struct StopHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StopHandle(stopped: {})", self.is_stopped())
    }
}

impl StopHandle {
    /// A handle not yet stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the sources of the runs using this handle. Idempotent; callable from any thread
    /// (including a signal-handling thread).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for l in listeners.iter() {
            l();
        }
    }

    /// Whether [`stop`](StopHandle::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Registers `f` to run on [`stop`](StopHandle::stop) (at once if already stopped). For
    /// runners.
    pub fn on_stop(&self, f: impl Fn() + Send + Sync + 'static) {
        let mut listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.is_stopped() {
            f();
        }
        listeners.push(Box::new(f));
    }
}
