//! Windows and triggers: how grouping steps cut a collection, bounded or not, into finite
//! groups, and when they emit them.
//!
//! The model is Beam's, driven by **event time** ([`Timestamp`]) and the **watermark**:
//! - [`window_into`](crate::PCollection::window_into) assigns every element to one window
//!   ([`FixedWindows`]) or several ([`SlidingWindows`]) by its timestamp; without it, elements
//!   are in the single global window ([`GlobalWindows`]).
//! - A grouping step (`group_by_key`, `co_group_by_key`, combines) holds a pane per key and
//!   window and emits it when the input watermark passes the window's end (Beam's default
//!   trigger, [`Trigger::AfterWatermark`]), then drops that state. The global window ends only
//!   at end of input, so an unbounded collection grouped in the global window needs an
//!   early-firing trigger ([`Trigger::AfterCount`], [`Trigger::AfterProcessingTime`]).
//! - Panes are *discarding*: each value is emitted in exactly one pane. Early panes of a window
//!   are followed by a final pane at the watermark holding what arrived since (if anything).
//! - **Late data**: an element whose window already closed (its end is at or below the input
//!   watermark when it arrives) is not dropped, unlike Beam's default zero allowed lateness: it
//!   is emitted at once as a pane of its own, and counted as `late` in the step's metrics. No
//!   input ever vanishes.
//!
//! A fired pane's element carries the window's [`Window::max_timestamp`] (Beam's default
//! end-of-window timestamp combiner) and the window itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// The window an element belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Window {
    /// The single window spanning all time; it closes at end of input.
    Global,
    /// `[start, end)` in timestamp units.
    Interval {
        /// Inclusive start.
        start: u64,
        /// Exclusive end.
        end: u64,
    },
}

impl Window {
    /// The latest timestamp inside the window: the timestamp of the panes it fires, and the
    /// watermark beyond which it is complete (`watermark > max_timestamp`).
    pub fn max_timestamp(&self) -> Timestamp {
        match self {
            Window::Global => Timestamp(u64::MAX - 1),
            Window::Interval { end, .. } => Timestamp(end.saturating_sub(1)),
        }
    }

    /// Whether a watermark at `watermark` has passed this window's end.
    pub fn is_closed_by(&self, watermark: Timestamp) -> bool {
        self.max_timestamp() < watermark
    }
}

/// How elements are assigned to windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowFn {
    /// Everything in [`Window::Global`].
    Global,
    /// Non-overlapping windows `[k·size + offset, (k+1)·size + offset)`.
    Fixed {
        /// Window length in timestamp units (≥ 1).
        size: u64,
        /// Shift of the window grid (< `size`).
        offset: u64,
    },
    /// Windows of `size` starting every `period`; an element belongs to `⌈size / period⌉` of
    /// them (fewer near time 0).
    Sliding {
        /// Window length in timestamp units (≥ 1).
        size: u64,
        /// Distance between window starts (≥ 1, ≤ `size`).
        period: u64,
    },
}

impl WindowFn {
    /// The windows containing `t`, in increasing order of start.
    pub fn assign(&self, t: Timestamp) -> Vec<Window> {
        let t = t.0;
        match *self {
            WindowFn::Global => vec![Window::Global],
            WindowFn::Fixed { size, offset } => {
                let start = if t >= offset {
                    t - (t - offset) % size
                } else {
                    0
                };
                let end = if t >= offset {
                    start.saturating_add(size)
                } else {
                    offset
                };
                vec![Window::Interval { start, end }]
            }
            WindowFn::Sliding { size, period } => {
                let last_start = t - t % period;
                let mut out = Vec::new();
                let mut start = last_start;
                loop {
                    let end = start.saturating_add(size);
                    if end > t {
                        out.push(Window::Interval { start, end });
                    } else {
                        break;
                    }
                    match start.checked_sub(period) {
                        Some(s) => start = s,
                        None => break,
                    }
                }
                out.reverse();
                out
            }
        }
    }
}

/// When a grouping step emits a window's panes.
#[derive(Clone)]
pub enum Trigger {
    /// Once, when the watermark passes the end of the window (Beam's default trigger).
    AfterWatermark,
    /// Early: every time a key's pane holds `n` values; the rest when the window closes.
    AfterCount(usize),
    /// Early: `delay` of processing time after the first value of a key's pane arrived; the
    /// rest when the window closes. `clock` is injected so tests need not sleep.
    AfterProcessingTime {
        /// How long a pane may wait.
        delay: Duration,
        /// Processing-time source.
        clock: Arc<dyn Clock>,
    },
}

impl Trigger {
    /// `AfterProcessingTime` on the system clock.
    pub fn after_processing_time(delay: Duration) -> Self {
        Trigger::AfterProcessingTime {
            delay,
            clock: Arc::new(SystemClock),
        }
    }

    /// Whether this trigger fires before the window closes.
    pub fn fires_early(&self) -> bool {
        !matches!(self, Trigger::AfterWatermark)
    }
}

impl std::fmt::Debug for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::AfterWatermark => f.write_str("AfterWatermark"),
            Trigger::AfterCount(n) => write!(f, "AfterCount({n})"),
            Trigger::AfterProcessingTime { delay, .. } => {
                write!(f, "AfterProcessingTime({delay:?})")
            }
        }
    }
}

/// A collection's windowing strategy: how elements are windowed and when groups fire.
#[derive(Clone, Debug)]
pub struct Windowing {
    /// Window assignment.
    pub window_fn: WindowFn,
    /// Firing rule of grouping steps.
    pub trigger: Trigger,
}

impl Default for Windowing {
    fn default() -> Self {
        GlobalWindows.into()
    }
}

impl Windowing {
    /// The same windows with `trigger` (Beam's `.triggering(...)`).
    pub fn triggering(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Whether a group over an unbounded collection with this windowing ever emits before
    /// end of input.
    pub fn can_fire_before_end(&self) -> bool {
        self.window_fn != WindowFn::Global || self.trigger.fires_early()
    }
}

/// The single global window (the default windowing).
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalWindows;

impl GlobalWindows {
    /// The global window with an early-firing `trigger` (for grouping unbounded input).
    pub fn triggering(self, trigger: Trigger) -> Windowing {
        Windowing::from(self).triggering(trigger)
    }
}

impl From<GlobalWindows> for Windowing {
    fn from(_: GlobalWindows) -> Self {
        Windowing {
            window_fn: WindowFn::Global,
            trigger: Trigger::AfterWatermark,
        }
    }
}

/// Fixed-size, non-overlapping event-time windows (Beam's `FixedWindows`).
#[derive(Clone, Copy, Debug)]
pub struct FixedWindows {
    size: u64,
    offset: u64,
}

impl FixedWindows {
    /// Windows of `size` timestamp units (positions for file inputs); 0 is treated as 1.
    pub fn new(size: u64) -> Self {
        FixedWindows {
            size: size.max(1),
            offset: 0,
        }
    }

    /// Windows of `size` for sources stamping milliseconds (rounded up to 1 ms).
    pub fn of(size: Duration) -> Self {
        Self::new(u64::try_from(size.as_millis()).unwrap_or(u64::MAX))
    }

    /// Shifts the window grid by `offset` units (taken modulo the size).
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset % self.size;
        self
    }

    /// Window size in timestamp units.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// These windows with an early-firing `trigger`.
    pub fn triggering(self, trigger: Trigger) -> Windowing {
        Windowing::from(self).triggering(trigger)
    }
}

impl From<FixedWindows> for Windowing {
    fn from(w: FixedWindows) -> Self {
        Windowing {
            window_fn: WindowFn::Fixed {
                size: w.size,
                offset: w.offset,
            },
            trigger: Trigger::AfterWatermark,
        }
    }
}

/// Overlapping windows of one size starting at a fixed period (Beam's `SlidingWindows`).
#[derive(Clone, Copy, Debug)]
pub struct SlidingWindows {
    size: u64,
    period: u64,
}

impl SlidingWindows {
    /// Windows of `size` units starting every `period` units (both at least 1; a period
    /// longer than the size is clamped to it, which makes fixed windows).
    pub fn new(size: u64, period: u64) -> Self {
        let size = size.max(1);
        SlidingWindows {
            size,
            period: period.clamp(1, size),
        }
    }

    /// These windows with an early-firing `trigger`.
    pub fn triggering(self, trigger: Trigger) -> Windowing {
        Windowing::from(self).triggering(trigger)
    }
}

impl From<SlidingWindows> for Windowing {
    fn from(w: SlidingWindows) -> Self {
        Windowing {
            window_fn: WindowFn::Sliding {
                size: w.size,
                period: w.period,
            },
            trigger: Trigger::AfterWatermark,
        }
    }
}

/// Processing-time source for processing-time triggers. Injected so firing is testable
/// without sleeping.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: u64, end: u64) -> Window {
        Window::Interval { start, end }
    }

    #[test]
    fn fixed_windows_align_to_multiples_of_the_size_plus_offset() {
        let w: Windowing = FixedWindows::new(10).into();
        assert_eq!(w.window_fn.assign(Timestamp(0)), vec![iv(0, 10)]);
        assert_eq!(w.window_fn.assign(Timestamp(19)), vec![iv(10, 20)]);
        let w: Windowing = FixedWindows::new(10).with_offset(3).into();
        assert_eq!(w.window_fn.assign(Timestamp(13)), vec![iv(13, 23)]);
        assert_eq!(w.window_fn.assign(Timestamp(12)), vec![iv(3, 13)]);
        assert_eq!(w.window_fn.assign(Timestamp(1)), vec![iv(0, 3)]);
    }

    #[test]
    fn sliding_windows_cover_each_timestamp_size_over_period_times() {
        let w: Windowing = SlidingWindows::new(10, 5).into();
        assert_eq!(
            w.window_fn.assign(Timestamp(12)),
            vec![iv(5, 15), iv(10, 20)]
        );
        assert_eq!(w.window_fn.assign(Timestamp(3)), vec![iv(0, 10)]);
        let w: Windowing = SlidingWindows::new(3, 1).into();
        assert_eq!(
            w.window_fn.assign(Timestamp(7)),
            vec![iv(5, 8), iv(6, 9), iv(7, 10)]
        );
    }

    #[test]
    fn a_window_closes_once_the_watermark_passes_its_last_timestamp() {
        assert!(!iv(0, 10).is_closed_by(Timestamp(9)));
        assert!(iv(0, 10).is_closed_by(Timestamp(10)));
        assert!(!Window::Global.is_closed_by(Timestamp(u64::MAX - 1)));
        assert!(Window::Global.is_closed_by(Timestamp::MAX));
        assert_eq!(iv(0, 10).max_timestamp(), Timestamp(9));
        assert_eq!(Window::Global.max_timestamp(), Timestamp(u64::MAX - 1));
    }

    #[test]
    fn sliding_windows_leave_out_the_window_ending_at_the_timestamp() {
        // t = 10 is the end of [0, 10), which does not contain it.
        let w: Windowing = SlidingWindows::new(10, 5).into();
        assert_eq!(
            w.window_fn.assign(Timestamp(10)),
            vec![iv(5, 15), iv(10, 20)]
        );
    }

    #[test]
    fn fixed_window_size_is_at_least_one_unit() {
        assert_eq!(FixedWindows::new(0).size(), 1);
        assert_eq!(FixedWindows::new(7).size(), 7);
        assert_eq!(FixedWindows::of(Duration::from_millis(250)).size(), 250);
        let w: Windowing = FixedWindows::of(Duration::from_millis(250)).into();
        assert_eq!(
            w.window_fn,
            WindowFn::Fixed {
                size: 250,
                offset: 0
            }
        );
    }

    #[test]
    fn only_the_global_window_with_the_watermark_trigger_waits_for_end_of_input() {
        let count = || Trigger::AfterCount(2);
        let timer = || Trigger::after_processing_time(Duration::from_millis(5));
        assert!(!Windowing::from(GlobalWindows).can_fire_before_end());
        assert!(GlobalWindows.triggering(count()).can_fire_before_end());
        assert!(GlobalWindows.triggering(timer()).can_fire_before_end());
        assert!(Windowing::from(FixedWindows::new(3)).can_fire_before_end());
        assert!(Windowing::from(SlidingWindows::new(4, 2)).can_fire_before_end());
        assert!(!Trigger::AfterWatermark.fires_early());
        assert!(count().fires_early() && timer().fires_early());
    }

    #[test]
    fn triggering_keeps_the_windows_and_sets_the_trigger() {
        let fixed = FixedWindows::new(10)
            .with_offset(3)
            .triggering(Trigger::AfterCount(2));
        assert_eq!(
            fixed.window_fn,
            WindowFn::Fixed {
                size: 10,
                offset: 3
            }
        );
        let sliding = SlidingWindows::new(4, 2).triggering(Trigger::AfterCount(2));
        assert_eq!(sliding.window_fn, WindowFn::Sliding { size: 4, period: 2 });
        let global = GlobalWindows.triggering(Trigger::AfterCount(2));
        assert_eq!(global.window_fn, WindowFn::Global);
        for w in [fixed, sliding, global] {
            assert!(matches!(w.trigger, Trigger::AfterCount(2)));
        }
    }

    #[test]
    fn triggers_show_their_rule() {
        let shown = [
            Trigger::AfterWatermark,
            Trigger::AfterCount(3),
            Trigger::after_processing_time(Duration::from_millis(5)),
        ]
        .map(|t| format!("{t:?}"));
        assert_eq!(
            shown,
            [
                "AfterWatermark",
                "AfterCount(3)",
                "AfterProcessingTime(5ms)"
            ]
        );
    }

    #[test]
    fn the_system_clock_reads_milliseconds_since_the_epoch() {
        // 2020-01-01T00:00:00Z in ms: any machine running this test is later than that.
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(40);
        assert_eq!(clock.now_ms(), 40);
        clock.advance(Duration::from_millis(2));
        assert_eq!(clock.now_ms(), 42);
    }
}
