//! Time, injected.
//!
//! Batching deadlines, adaptive batch sizes, retry back-off and latency metrics all read time
//! through [`Clock`], so tests drive them with a [`ManualClock`] instead of sleeping (the idea of
//! Beam's `_RunInferenceDoFn(clock=...)`, used for everything time-based here).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A source of monotonic time that can also wait.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits `duration` (retry back-off). A manual clock advances instead of blocking.
    fn sleep(&self, duration: Duration);
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that moves only when told to: `advance` (or `sleep`) adds to its offset.
///
/// Cloning shares the same time, so a test and the handler it drives can both hold it (a toy
/// handler advances the clock to simulate how long inference takes).
#[derive(Debug, Clone)]
pub struct ManualClock {
    origin: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock frozen at the moment of creation.
    pub fn new() -> Self {
        ManualClock {
            origin: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += by;
    }

    /// How far the clock has moved since creation.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }
    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_millis(5));
        clock.sleep(Duration::from_millis(7));
        assert_eq!(clock.now() - t0, Duration::from_millis(12));
        let shared = clock.clone();
        shared.advance(Duration::from_millis(1));
        assert_eq!(clock.elapsed(), Duration::from_millis(13));
    }
}
