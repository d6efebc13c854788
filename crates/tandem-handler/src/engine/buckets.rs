//! Pending elements grouped into buckets, each waiting to become a batch.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::BatchConfig;

/// A bucket: batching group and length bucket.
pub(crate) type BucketKey = (usize, Option<usize>);

struct Bucket<E> {
    items: Vec<E>,
    weight: u64,
    deadline: Instant,
}

/// Buckets of pending elements. Pure bookkeeping: it decides *when* a batch is ready and hands
/// it out; it never runs anything.
pub(crate) struct Batcher<E> {
    buckets: BTreeMap<BucketKey, Bucket<E>>,
    buffered: usize,
}

impl<E> Batcher<E> {
    pub(crate) fn new() -> Self {
        Batcher {
            buckets: BTreeMap::new(),
            buffered: 0,
        }
    }

    /// Adds an element and returns the batches it made ready (at most two: the bucket flushed
    /// because this element would overflow its weight budget, and the bucket it filled).
    pub(crate) fn add(
        &mut self,
        key: BucketKey,
        example: E,
        weight: u64,
        cfg: &BatchConfig,
        target_size: usize,
        now: Instant,
    ) -> Vec<(BucketKey, Vec<E>)> {
        let mut ready = Vec::new();
        if let (Some(budget), Some(bucket)) = (cfg.max_batch_weight, self.buckets.get(&key)) {
            if !bucket.items.is_empty() && bucket.weight.saturating_add(weight) > budget {
                ready.extend(self.take(key));
            }
        }
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket {
            items: Vec::with_capacity(target_size.min(1024)),
            weight: 0,
            deadline: now + cfg.max_wait,
        });
        bucket.items.push(example);
        bucket.weight = bucket.weight.saturating_add(weight);
        self.buffered += 1;
        let full = bucket.items.len() >= target_size.max(1)
            || cfg
                .max_batch_weight
                .is_some_and(|budget| bucket.weight >= budget);
        if full {
            ready.extend(self.take(key));
        }
        ready
    }

    /// Removes and returns every bucket whose deadline has passed.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(BucketKey, Vec<E>)> {
        let keys: Vec<BucketKey> = self
            .buckets
            .iter()
            .filter(|(_, b)| b.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter().filter_map(|k| self.take(k)).collect()
    }

    /// Removes the bucket with the earliest deadline.
    pub(crate) fn take_oldest(&mut self) -> Option<(BucketKey, Vec<E>)> {
        let key = self
            .buckets
            .iter()
            .min_by_key(|(_, b)| b.deadline)
            .map(|(k, _)| *k)?;
        self.take(key)
    }

    /// Removes every bucket.
    pub(crate) fn drain(&mut self) -> Vec<(BucketKey, Vec<E>)> {
        let keys: Vec<BucketKey> = self.buckets.keys().copied().collect();
        keys.into_iter().filter_map(|k| self.take(k)).collect()
    }

    /// The earliest bucket deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.buckets.values().map(|b| b.deadline).min()
    }

    /// Elements waiting.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    fn take(&mut self, key: BucketKey) -> Option<(BucketKey, Vec<E>)> {
        let bucket = self.buckets.remove(&key)?;
        self.buffered -= bucket.items.len();
        Some((key, bucket.items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn weight_budget_splits_before_overflow_and_outlier_runs_alone() {
        let cfg = BatchConfig {
            max_batch_weight: Some(10),
            max_batch_size: 100,
            ..Default::default()
        };
        let now = Instant::now();
        let mut b = Batcher::new();
        assert!(b.add((0, None), 'a', 4, &cfg, 100, now).is_empty());
        assert!(b.add((0, None), 'b', 4, &cfg, 100, now).is_empty());
        // 'c' would make 12 > 10: the bucket [a, b] goes first.
        let ready = b.add((0, None), 'c', 4, &cfg, 100, now);
        assert_eq!(ready, vec![((0, None), vec!['a', 'b'])]);
        // An outlier heavier than the budget: [c] goes, then the outlier alone.
        let ready = b.add((0, None), 'X', 50, &cfg, 100, now);
        assert_eq!(ready, vec![((0, None), vec!['c']), ((0, None), vec!['X'])]);
        assert_eq!(b.buffered(), 0);
    }

    #[test]
    fn deadlines_are_per_bucket() {
        let cfg = BatchConfig {
            max_wait: Duration::from_millis(10),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut b = Batcher::new();
        b.add((0, Some(1)), 1, 1, &cfg, 8, t0);
        b.add((0, Some(2)), 2, 1, &cfg, 8, t0 + Duration::from_millis(5));
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(b.due(t0 + Duration::from_millis(9)).is_empty());
        assert_eq!(
            b.due(t0 + Duration::from_millis(10)),
            vec![((0, Some(1)), vec![1])]
        );
        assert_eq!(b.take_oldest(), Some(((0, Some(2)), vec![2])));
        assert_eq!(b.next_deadline(), None);
    }
}
