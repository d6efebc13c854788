//! Progress tracking: which timestamps can still reach each step, hence its input watermark.
//!
//! This is timely-dataflow's pointstamp accounting, specialised to an acyclic graph. Every
//! timestamp that may still produce output is counted at a *location*:
//! - `input(s)`: elements sent to step `s` and not yet fully processed (counted by the sender
//!   before the send, released by `s` only after the element's outputs were counted
//!   downstream);
//! - `hold(s)`: what an instance of `s` holds (its [`Executor::hold`](crate::runner::api::Executor::hold)),
//!   or, for a source, its watermark. Every running instance also holds [`LIVE`] until it
//!   has made its last call (the final `finish_bundle` and `on_watermark`), so a step never
//!   sees the end of its input while an upstream instance may still emit; `LIVE` is above
//!   every window's end except the global window's, so it delays nothing else.
//!
//! The input watermark of `s` is the least timestamp counted at `input(s)` or at any location
//! upstream of `s`; `Timestamp::MAX` when they are all empty (end of input). Counts are added
//! before the ones they replace are removed, so a watermark never jumps past an element in
//! flight. When the least timestamp of a location changes, the workers of every step it
//! affects are woken.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::timestamp::Timestamp;

/// What a running instance holds until its last call: just below the end of input.
pub(crate) const LIVE: Timestamp = Timestamp(u64::MAX - 1);

/// Counts per timestamp at every location, and who to wake when they change.
pub(crate) struct Progress {
    state: Mutex<State>,
    /// Signalled whenever the least timestamp of a location moves (for sources waiting on
    /// the drift bound).
    moved: Condvar,
    /// Per step: the locations its watermark is the minimum of.
    frontier: Vec<Vec<usize>>,
    /// Per location: the steps whose watermark depends on it.
    affects: Vec<Vec<usize>>,
    /// Per step: one waker per instance (a capacity-1 channel; a full one is already woken).
    wakers: Vec<Vec<Sender<()>>>,
}

struct State {
    counts: Vec<BTreeMap<Timestamp, u64>>,
    /// Per source step: whether it may still produce (false once finished or stopped).
    open: Vec<bool>,
}

pub(crate) fn input(step: usize) -> usize {
    2 * step
}

pub(crate) fn hold(step: usize) -> usize {
    2 * step + 1
}

impl Progress {
    /// `upstream[s]`: the steps whose outputs can reach `s`. `sources`: the source steps, each
    /// starting with its watermark at `Timestamp::MIN`. `instances[s]`: how many instances of
    /// each other step will run, each holding [`LIVE`] until it ends.
    pub(crate) fn new(
        upstream: &[Vec<usize>],
        sources: &[usize],
        instances: &[usize],
        wakers: Vec<Vec<Sender<()>>>,
    ) -> Self {
        let steps = upstream.len();
        let mut frontier = Vec::with_capacity(steps);
        let mut affects = vec![Vec::new(); 2 * steps];
        for (s, ups) in upstream.iter().enumerate() {
            let mut locs = vec![input(s)];
            for &u in ups {
                locs.push(input(u));
                locs.push(hold(u));
            }
            for &l in &locs {
                affects[l].push(s);
            }
            frontier.push(locs);
        }
        let mut counts = vec![BTreeMap::new(); 2 * steps];
        let mut open = vec![false; steps];
        for (s, &n) in instances.iter().enumerate() {
            if n > 0 && !sources.contains(&s) {
                counts[hold(s)].insert(LIVE, n as u64);
            }
        }
        for &s in sources {
            counts[hold(s)].insert(Timestamp::MIN, 1);
            open[s] = true;
        }
        Progress {
            state: Mutex::new(State { counts, open }),
            moved: Condvar::new(),
            frontier,
            affects,
            wakers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_affected(&self, loc: usize) {
        for &s in &self.affects[loc] {
            self.wake(s);
        }
    }

    /// Wakes every instance of `step`.
    pub(crate) fn wake(&self, step: usize) {
        for w in &self.wakers[step] {
            let _ = w.try_send(());
        }
    }

    /// Wakes every worker (the run is aborting or stopping).
    pub(crate) fn wake_all(&self) {
        for s in 0..self.wakers.len() {
            self.wake(s);
        }
    }

    /// Applies `changes` as one step; wakes the steps whose watermark may have moved.
    pub(crate) fn update(&self, changes: &[(usize, Timestamp, i64)]) {
        let mut moved = Vec::new();
        {
            let mut st = self.lock();
            for &(loc, t, delta) in changes {
                let map = &mut st.counts[loc];
                let before = map.keys().next().copied();
                let n = map.entry(t).or_insert(0);
                // Counts never go below zero: every removal matches an earlier addition.
                *n = n.saturating_add_signed(delta);
                if *n == 0 {
                    map.remove(&t);
                }
                if map.keys().next().copied() != before {
                    moved.push(loc);
                }
            }
        }
        if !moved.is_empty() {
            self.moved.notify_all();
        }
        for loc in moved {
            self.wake_affected(loc);
        }
    }

    /// Blocks source `source`, about to emit an element at `t`, until every timestamp still in
    /// flight elsewhere is at least `min(t, its watermark) - drift` (watermark alignment, as
    /// Flink gates a split by its watermark: a source may not run more than `drift` ahead of the
    /// slowest element of the pipeline, which bounds what grouping steps and batchers hold).
    /// Returns early when `give_up()` says the run is stopping.
    pub(crate) fn wait_for_drift(
        &self,
        source: usize,
        t: Timestamp,
        drift: u64,
        give_up: impl Fn() -> bool,
    ) {
        let mut st = self.lock();
        loop {
            let low = st
                .counts
                .iter()
                .enumerate()
                .filter(|(loc, _)| *loc != hold(source))
                .filter_map(|(_, m)| m.keys().next().copied())
                .min()
                .unwrap_or(Timestamp::MAX);
            // Gate on the source's own watermark, not on `t`: whatever holds `low` back may be
            // waiting for that watermark to pass it (a window ending before `t`), and the source
            // can only advance it by emitting `t` first.
            let own = st.counts[hold(source)].keys().next().copied().unwrap_or(t);
            if low.plus(drift) >= own.min(t) || !st.open[source] || give_up() {
                return;
            }
            // The timeout only re-checks `give_up`; progress itself notifies.
            st = match self.moved.wait_timeout(st, Duration::from_millis(50)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Counts one element at `t` for each step in `targets`, if source `source` is still
    /// open; atomic with [`Progress::close_source`], so an element is either refused or
    /// counted before the watermark can pass it.
    pub(crate) fn try_produce(&self, source: usize, t: Timestamp, targets: &[usize]) -> bool {
        let mut st = self.lock();
        if !st.open[source] {
            return false;
        }
        for &s in targets {
            *st.counts[input(s)].entry(t).or_insert(0) += 1;
        }
        true
    }

    /// Moves source `source`'s watermark forward to `t`.
    pub(crate) fn advance_source(&self, source: usize, t: Timestamp) {
        let moved = {
            let mut st = self.lock();
            if !st.open[source] {
                return;
            }
            let map = &mut st.counts[hold(source)];
            let current = map.keys().next().copied().unwrap_or(Timestamp::MAX);
            if t <= current {
                return;
            }
            map.clear();
            if !t.is_max() {
                map.insert(t, 1);
            }
            true
        };
        if moved {
            self.wake_affected(hold(source));
        }
    }

    /// Source `source` will produce nothing more (finished, failed or stopped).
    pub(crate) fn close_source(&self, source: usize) {
        {
            let mut st = self.lock();
            st.open[source] = false;
            st.counts[hold(source)].clear();
        }
        self.wake_affected(hold(source));
    }

    /// Closes every source (a graceful stop).
    pub(crate) fn close_all_sources(&self) {
        let sources: Vec<usize> = {
            let st = self.lock();
            (0..st.open.len()).filter(|&s| st.open[s]).collect()
        };
        for s in sources {
            self.close_source(s);
        }
    }

    /// The input watermark of `step`.
    pub(crate) fn watermark(&self, step: usize) -> Timestamp {
        let st = self.lock();
        self.frontier[step]
            .iter()
            .filter_map(|&l| st.counts[l].keys().next().copied())
            .min()
            .unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_waits_for_elements_in_flight_and_holds_upstream() {
        // source 0 -> step 1 -> step 2
        let upstream = vec![vec![], vec![0], vec![0, 1]];
        let p = Progress::new(
            &upstream,
            &[0],
            &[1, 0, 0],
            vec![Vec::new(), Vec::new(), Vec::new()],
        );
        assert_eq!(p.watermark(2), Timestamp::MIN);
        assert!(p.try_produce(0, Timestamp(0), &[1]));
        p.advance_source(0, Timestamp(1));
        assert_eq!(p.watermark(1), Timestamp(0));
        assert_eq!(p.watermark(2), Timestamp(0));
        // Step 1 holds the element (a batcher), then releases its input count.
        p.update(&[(hold(1), Timestamp(0), 1), (input(1), Timestamp(0), -1)]);
        assert_eq!(p.watermark(1), Timestamp(1));
        assert_eq!(p.watermark(2), Timestamp(0));
        // It emits the element to step 2 and drops its hold.
        p.update(&[(input(2), Timestamp(0), 1), (hold(1), Timestamp(0), -1)]);
        assert_eq!(p.watermark(2), Timestamp(0));
        p.update(&[(input(2), Timestamp(0), -1)]);
        assert_eq!(p.watermark(2), Timestamp(1));
        p.close_source(0);
        assert_eq!(p.watermark(2), Timestamp::MAX);
        assert!(
            !p.try_produce(0, Timestamp(5), &[1]),
            "a closed source is refused"
        );
    }
}
