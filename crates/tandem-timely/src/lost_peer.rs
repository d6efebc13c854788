//! Turns timely's reaction to a lost peer (its networking threads panic with "timely
//! communication error") into our error.
//!
//! Timely has no fault tolerance: when a process dies, its peers' network threads panic and
//! their workers wait forever for progress that will never come. A panic hook, installed once
//! per process and chained to the previous hook, records the first such panic; the runner
//! polls it and returns [`Error::Worker`](tandem_pipeline::Error::Worker) naming the lost peer
//! instead of hanging.

use std::sync::{Arc, Mutex, OnceLock};

/// The first communication failure of this process, if any.
static LOST: OnceLock<Arc<Mutex<Option<String>>>> = OnceLock::new();

/// A handle on the process's lost-peer record.
#[derive(Clone)]
pub(crate) struct LostPeer(Arc<Mutex<Option<String>>>);

/// Installs the hook (once) and returns the record.
pub(crate) fn watch() -> LostPeer {
    let slot = LOST.get_or_init(|| {
        let slot: Arc<Mutex<Option<String>>> = Arc::default();
        let record = Arc::clone(&slot);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if text.contains("timely communication error") {
                let mut r = record.lock().unwrap_or_else(|e| e.into_inner());
                if r.is_none() {
                    let thread = std::thread::current();
                    *r = Some(describe(&text, thread.name().unwrap_or("")));
                }
                // The message replaces the backtrace: the runner reports it as an error.
                return;
            }
            // Once a peer is lost, timely's own threads fail in turn (poisoned queues):
            // their panics repeat the same cause and are left out.
            let lost_already = record.lock().map(|r| r.is_some()).unwrap_or(false);
            let timely_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("timely:"));
            if lost_already && timely_thread {
                return;
            }
            previous(info);
        }));
        slot
    });
    LostPeer(Arc::clone(slot))
}

/// "lost connection to timely process N (...)": timely names its network threads
/// `timely:send-N` / `timely:recv-N` after the remote process index.
fn describe(text: &str, thread: &str) -> String {
    let peer = thread
        .rsplit('-')
        .next()
        .filter(|p| p.parse::<usize>().is_ok());
    match peer {
        Some(p) => {
            format!("lost connection to timely process {p} (it crashed or was killed): {text}")
        }
        None => format!("lost connection to a timely peer process ({thread}): {text}"),
    }
}

impl LostPeer {
    pub(crate) fn message(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.message().is_some()
    }
}
