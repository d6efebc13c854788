//! Windows: how grouping steps cut an unbounded stream into finite groups.
//!
//! Supported today: the global window (the default; bounded input only when grouping) and
//! fixed, non-overlapping windows by **processing time** (`FixedWindows`). An element is
//! assigned to a window when it passes the `window_into` step, using that step's [`Clock`]; a
//! grouping step emits a window's groups once the same clock passes the window's end, and emits
//! every remaining window when its input closes. There is no watermark: an element that
//! reaches a grouping step after its window fired (it was windowed just before the window's
//! end and was still in flight) starts a new group for that window, emitted as a second,
//! later result for the same key and window. Event-time windows, sliding windows, sessions,
//! triggers and late data are not supported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The window an element belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Window {
    /// The single window spanning all time.
    Global,
    /// `[start_ms, end_ms)` in the clock's milliseconds.
    Interval {
        /// Inclusive start, milliseconds.
        start_ms: u64,
        /// Exclusive end, milliseconds.
        end_ms: u64,
    },
}

impl Window {
    /// The processing time (clock milliseconds) at which this window is complete; `None` for the
    /// global window, which completes only when the input closes.
    pub fn end_ms(&self) -> Option<u64> {
        match self {
            Window::Global => None,
            Window::Interval { end_ms, .. } => Some(*end_ms),
        }
    }
}

/// Processing-time source. Injected so window firing is testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Current time in milliseconds since an arbitrary fixed origin.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time, milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            now_ms: AtomicU64::new(start_ms),
        })
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Fixed-size, non-overlapping processing-time windows.
#[derive(Clone)]
pub struct FixedWindows {
    size_ms: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FixedWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FixedWindows({} ms)", self.size_ms)
    }
}

impl FixedWindows {
    /// Windows of `size`, on the system clock. Sizes under one millisecond are rounded up to
    /// one millisecond (windows are aligned to whole milliseconds).
    pub fn of(size: Duration) -> Self {
        Self {
            size_ms: (size.as_millis() as u64).max(1),
            clock: Arc::new(SystemClock),
        }
    }

    /// Same windows on another clock (a [`ManualClock`] in tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Window size in milliseconds.
    pub fn size_ms(&self) -> u64 {
        self.size_ms
    }

    /// The window containing the clock's current time.
    pub(crate) fn assign_now(&self) -> Window {
        let now = self.clock.now_ms();
        let start = now - now % self.size_ms;
        Window::Interval {
            start_ms: start,
            end_ms: start + self.size_ms,
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_multiples_of_the_size() {
        let clock = ManualClock::new(1_234);
        let w = FixedWindows::of(Duration::from_millis(100)).with_clock(clock.clone());
        assert_eq!(
            w.assign_now(),
            Window::Interval {
                start_ms: 1_200,
                end_ms: 1_300
            }
        );
        clock.advance(Duration::from_millis(66));
        assert_eq!(w.assign_now().end_ms(), Some(1_400));
    }
}
