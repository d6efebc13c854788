//! Per-window, per-key panes shared by the grouping steps, and the firing rules of
//! [`Trigger`]s: the state machine of Beam's `GroupByKey` after `WindowInto`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::timestamp::Timestamp;
use crate::window::{Trigger, Window, Windowing};

struct Pane<A> {
    acc: A,
    /// Values folded into `acc`.
    count: usize,
    /// Processing time (trigger clock, ms) of the pane's first value.
    first_ms: u64,
}

/// A pane to emit: the key's accumulated values in `window`.
pub(crate) struct Fired<K, A> {
    pub(crate) window: Window,
    pub(crate) key: K,
    pub(crate) acc: A,
}

/// Open panes, ordered by the end of their window so they fire oldest first.
pub(crate) struct Panes<K, A> {
    windows: BTreeMap<(Timestamp, Window), HashMap<K, Pane<A>>>,
    trigger: Trigger,
    /// The input watermark seen last; windows at or below it are closed.
    watermark: Timestamp,
    /// Values held in open panes.
    held: usize,
}

impl<K: Hash + Eq, A> Panes<K, A> {
    pub(crate) fn new(windowing: &Windowing) -> Self {
        Self {
            windows: BTreeMap::new(),
            trigger: windowing.trigger.clone(),
            watermark: Timestamp::MIN,
            held: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        match &self.trigger {
            Trigger::AfterProcessingTime { clock, .. } => clock.now_ms(),
            _ => 0,
        }
    }

    /// Folds one value into `key`'s pane of `window` with `update` (the pane starts from
    /// `init`). Returns the panes this completes at once: the value's own pane when it is
    /// late (its window already closed), or the key's pane when a count trigger is reached.
    /// An `update` error leaves a new pane out and is returned.
    pub(crate) fn add<E>(
        &mut self,
        window: Window,
        key: K,
        init: impl FnOnce() -> A,
        update: impl FnOnce(&mut A) -> Result<(), E>,
    ) -> Result<Added<K, A>, E> {
        if window.is_closed_by(self.watermark) {
            let mut acc = init();
            update(&mut acc)?;
            return Ok(Added::Late(Fired { window, key, acc }));
        }
        let now = self.now_ms();
        let panes = self
            .windows
            .entry((window.max_timestamp(), window))
            .or_default();
        let fire_at = match self.trigger {
            Trigger::AfterCount(n) => n.max(1),
            _ => usize::MAX,
        };
        let pane = match panes.get_mut(&key) {
            Some(pane) => pane,
            None => {
                let mut acc = init();
                update(&mut acc)?;
                self.held += 1;
                panes.insert(
                    key,
                    Pane {
                        acc,
                        count: 1,
                        first_ms: now,
                    },
                );
                return Ok(Added::Held);
            }
        };
        update(&mut pane.acc)?;
        pane.count += 1;
        self.held += 1;
        if pane.count < fire_at {
            return Ok(Added::Held);
        }
        // Count trigger reached: fire this key's pane early.
        let Some((key, pane)) = panes.remove_entry(&key) else {
            return Ok(Added::Held);
        };
        self.held -= pane.count;
        Ok(Added::Early(Fired {
            window,
            key,
            acc: pane.acc,
        }))
    }

    /// Advances the watermark and removes every pane of every window it closed, oldest
    /// window first.
    pub(crate) fn advance(&mut self, watermark: Timestamp) -> Vec<Fired<K, A>> {
        self.watermark = self.watermark.max(watermark);
        let mut out = Vec::new();
        while let Some(entry) = self.windows.first_entry() {
            let (max_ts, window) = *entry.key();
            if max_ts >= self.watermark {
                break;
            }
            for (key, pane) in entry.remove() {
                self.held -= pane.count;
                out.push(Fired {
                    window,
                    key,
                    acc: pane.acc,
                });
            }
        }
        out
    }

    /// Panes whose processing-time delay has passed (early firings).
    pub(crate) fn due(&mut self) -> Vec<Fired<K, A>> {
        let Trigger::AfterProcessingTime { delay, .. } = &self.trigger else {
            return Vec::new();
        };
        let delay = delay.as_millis() as u64;
        let now = self.now_ms();
        let mut out = Vec::new();
        for (&(_, window), panes) in self.windows.iter_mut() {
            if !panes
                .values()
                .any(|p| p.first_ms.saturating_add(delay) <= now)
            {
                continue;
            }
            // Keys are not `Clone`: move every pane out and keep those not yet due.
            let mut keep = HashMap::with_capacity(panes.len());
            for (key, pane) in panes.drain() {
                if pane.first_ms.saturating_add(delay) <= now {
                    self.held -= pane.count;
                    out.push(Fired {
                        window,
                        key,
                        acc: pane.acc,
                    });
                } else {
                    keep.insert(key, pane);
                }
            }
            *panes = keep;
        }
        self.windows.retain(|_, panes| !panes.is_empty());
        out
    }

    /// When the next processing-time firing is due, as an instant for the runner's timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let Trigger::AfterProcessingTime { delay, .. } = &self.trigger else {
            return None;
        };
        let first = self
            .windows
            .values()
            .flat_map(|panes| panes.values().map(|p| p.first_ms))
            .min()?;
        let due = first.saturating_add(delay.as_millis() as u64);
        let wait = due.saturating_sub(self.now_ms());
        Some(Instant::now() + Duration::from_millis(wait))
    }

    /// The timestamp of the earliest pane still to fire (what the step holds back).
    pub(crate) fn hold(&self) -> Option<Timestamp> {
        self.windows.keys().next().map(|(t, _)| *t)
    }

    /// Values in open panes.
    pub(crate) fn held(&self) -> usize {
        self.held
    }
}

/// What adding a value did.
pub(crate) enum Added<K, A> {
    /// The value waits in its pane.
    Held,
    /// The value's window had closed: its own pane, to emit now.
    Late(Fired<K, A>),
    /// A count trigger fired the key's pane.
    Early(Fired<K, A>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{FixedWindows, GlobalWindows, ManualClock};

    fn iv(start: u64, end: u64) -> Window {
        Window::Interval { start, end }
    }

    fn push(
        p: &mut Panes<&'static str, Vec<u32>>,
        w: Window,
        k: &'static str,
        v: u32,
    ) -> Added<&'static str, Vec<u32>> {
        p.add(w, k, Vec::new, |acc| {
            acc.push(v);
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    #[test]
    fn windows_fire_in_order_when_the_watermark_passes_their_end() {
        let mut p = Panes::new(&FixedWindows::new(10).into());
        assert!(matches!(push(&mut p, iv(10, 20), "a", 1), Added::Held));
        assert!(matches!(push(&mut p, iv(0, 10), "a", 2), Added::Held));
        // A second value of the same pane waits too: only a count trigger fires on arrival.
        assert!(matches!(push(&mut p, iv(10, 20), "a", 3), Added::Held));
        assert_eq!(p.hold(), Some(Timestamp(9)));
        assert_eq!(p.held(), 3);
        assert!(p.advance(Timestamp(9)).is_empty());
        let fired = p.advance(Timestamp(10));
        assert_eq!(fired.len(), 1, "the watermark at 10 closes [0, 10) only");
        assert_eq!((p.hold(), p.held()), (Some(Timestamp(19)), 2));
        let fired = p.advance(Timestamp(25));
        let got: Vec<(Window, Vec<u32>)> = fired.into_iter().map(|f| (f.window, f.acc)).collect();
        assert_eq!(got, vec![(iv(10, 20), vec![1, 3])]);
        assert_eq!((p.hold(), p.held()), (None, 0));
    }

    #[test]
    fn late_values_fire_alone_at_once() {
        let mut p = Panes::new(&FixedWindows::new(10).into());
        p.advance(Timestamp(10));
        match push(&mut p, iv(0, 10), "a", 7) {
            Added::Late(f) => assert_eq!((f.window, f.acc), (iv(0, 10), vec![7])),
            _ => panic!("a value of a closed window must be late"),
        }
        assert_eq!(p.held(), 0);
    }

    #[test]
    fn count_trigger_fires_each_full_pane_and_the_rest_at_the_end() {
        let mut p = Panes::new(&GlobalWindows.triggering(Trigger::AfterCount(2)));
        assert!(matches!(push(&mut p, Window::Global, "a", 1), Added::Held));
        match push(&mut p, Window::Global, "a", 2) {
            Added::Early(f) => assert_eq!(f.acc, vec![1, 2]),
            _ => panic!("the second value must fire the pane"),
        }
        assert_eq!(p.held(), 0, "the early pane's values left with it");
        assert!(matches!(push(&mut p, Window::Global, "a", 3), Added::Held));
        assert_eq!(p.held(), 1);
        let rest = p.advance(Timestamp::MAX);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].acc, vec![3]);
    }

    #[test]
    fn processing_time_trigger_fires_after_the_delay() {
        let clock = ManualClock::new(1_000);
        let w = GlobalWindows.triggering(Trigger::AfterProcessingTime {
            delay: Duration::from_millis(50),
            clock: clock.clone(),
        });
        let mut p = Panes::new(&w);
        push(&mut p, Window::Global, "a", 1);
        clock.advance(Duration::from_millis(30));
        push(&mut p, Window::Global, "b", 2);
        // "a" is due 20 ms of trigger-clock time from now, translated onto the runner's
        // `Instant`s; the bounds are instants read around the call, not a timing.
        let before = Instant::now();
        let deadline = p.next_deadline().expect("panes are waiting");
        let after = Instant::now();
        let wait = Duration::from_millis(20);
        assert!(
            before + wait <= deadline && deadline <= after + wait,
            "deadline {deadline:?} not 20 ms after the call ({before:?}..{after:?})"
        );
        assert!(p.due().is_empty());
        clock.advance(Duration::from_millis(20));
        let fired = p.due();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].key, "a");
        clock.advance(Duration::from_millis(30));
        assert_eq!(p.due()[0].key, "b");
        assert_eq!(p.held(), 0);
        assert_eq!((p.hold(), p.next_deadline()), (None, None));
    }

    #[test]
    fn non_processing_time_triggers_have_no_deadline_and_nothing_due() {
        let mut p = Panes::new(&GlobalWindows.triggering(Trigger::AfterCount(5)));
        push(&mut p, Window::Global, "a", 1);
        assert!(p.next_deadline().is_none());
        assert!(p.due().is_empty());
        assert_eq!(p.held(), 1);
    }
}
