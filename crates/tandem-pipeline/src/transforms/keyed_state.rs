//! Per-window, per-key state shared by the grouping steps, and the firing rule for windows.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::window::{FixedWindows, Window};

/// State of type `A` per key, per window; windows fire in order of their end.
pub(crate) struct KeyedState<K, A> {
    windows: BTreeMap<Window, HashMap<K, A>>,
    windowing: Option<FixedWindows>,
}

impl<K: Hash + Eq, A> KeyedState<K, A> {
    pub(crate) fn new(windowing: Option<FixedWindows>) -> Self {
        Self {
            windows: BTreeMap::new(),
            windowing,
        }
    }

    /// The accumulator for `key` in `window`, created by `init` if absent.
    pub(crate) fn entry(&mut self, window: Window, key: K, init: impl FnOnce() -> A) -> &mut A {
        self.windows
            .entry(window)
            .or_default()
            .entry(key)
            .or_insert_with(init)
    }

    /// Windows whose end the clock has passed, removed from the state, oldest first.
    pub(crate) fn take_ready(&mut self) -> Vec<(Window, HashMap<K, A>)> {
        let Some(w) = &self.windowing else {
            return Vec::new();
        };
        let now = w.now_ms();
        let ready: Vec<Window> = self
            .windows
            .keys()
            .filter(|win| win.end_ms().is_some_and(|end| end <= now))
            .copied()
            .collect();
        ready
            .into_iter()
            .filter_map(|win| self.windows.remove(&win).map(|m| (win, m)))
            .collect()
    }

    /// Everything, oldest window first (end of input).
    pub(crate) fn take_all(&mut self) -> Vec<(Window, HashMap<K, A>)> {
        std::mem::take(&mut self.windows).into_iter().collect()
    }

    /// When the earliest pending window ends, as a wall-clock instant for the runner's timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let w = self.windowing.as_ref()?;
        let end = self.windows.keys().filter_map(Window::end_ms).min()?;
        let wait = end.saturating_sub(w.now_ms());
        Some(Instant::now() + Duration::from_millis(wait))
    }
}
