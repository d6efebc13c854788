//! Adaptive batch size from measured latency.

use std::time::Duration;

use crate::config::BatchConfig;

/// Chooses a batch size so one batch takes about `target_batch_duration`.
///
/// It keeps a moving average of the measured seconds per element (batch latency / batch size)
/// and proposes `target / per_element`, clamped to `[min_batch_size, max_batch_size]`. Because
/// per-element cost includes the amortised fixed overhead `a` of a call, with latency `a + b*n`
/// the proposal `n' = T*n / (a + b*n)` has its fixed point at `n = (T - a) / b`: exactly the size
/// that meets the target. It starts from `min_batch_size` (nothing measured yet).
///
/// A batch that ran out of memory caps every later proposal at half its size (at least 1,
/// below `min_batch_size` if need be: memory wins over the configured minimum). The cap only
/// ever goes down, for the life of the engine.
#[derive(Debug, Clone, Default)]
pub(crate) struct SizeEstimator {
    seconds_per_element: Option<f64>,
    out_of_memory_cap: Option<usize>,
}

const SMOOTHING: f64 = 0.5;

impl SizeEstimator {
    /// The batch size to fill up to.
    pub(crate) fn target(&self, cfg: &BatchConfig) -> usize {
        let proposal = self.by_latency(cfg);
        self.out_of_memory_cap
            .map_or(proposal, |cap| proposal.min(cap))
    }

    /// Records a batch of `size` that ran out of memory.
    pub(crate) fn observe_out_of_memory(&mut self, size: usize) {
        let cap = (size / 2).max(1);
        self.out_of_memory_cap = Some(self.out_of_memory_cap.map_or(cap, |c| c.min(cap)));
    }

    fn by_latency(&self, cfg: &BatchConfig) -> usize {
        let Some(target) = cfg.target_batch_duration else {
            return cfg.max_batch_size;
        };
        match self.seconds_per_element {
            None => cfg.min_batch_size,
            Some(per) if per <= 0.0 => cfg.max_batch_size,
            Some(per) => {
                let n = (target.as_secs_f64() / per).floor();
                let n = if n.is_finite() {
                    n.min(usize::MAX as f64) as usize
                } else {
                    usize::MAX
                };
                n.clamp(cfg.min_batch_size, cfg.max_batch_size)
            }
        }
    }

    /// Records a successful batch.
    pub(crate) fn observe(&mut self, size: usize, latency: Duration) {
        if size == 0 {
            return;
        }
        let per = latency.as_secs_f64() / size as f64;
        self.seconds_per_element = Some(match self.seconds_per_element {
            None => per,
            Some(old) => old * (1.0 - SMOOTHING) + per * SMOOTHING,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_the_size_that_meets_the_target() {
        let cfg = BatchConfig {
            min_batch_size: 1,
            max_batch_size: 1000,
            target_batch_duration: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        // latency = 10 ms + 1 ms per element: 90 elements take exactly 100 ms.
        let mut est = SizeEstimator::default();
        let mut n = est.target(&cfg);
        assert_eq!(n, 1);
        for _ in 0..40 {
            est.observe(n, Duration::from_micros(10_000 + 1_000 * n as u64));
            n = est.target(&cfg);
        }
        assert!((89..=90).contains(&n), "converged to {n}");
    }

    #[test]
    fn out_of_memory_caps_every_later_proposal_at_half_the_failed_size() {
        let cfg = BatchConfig {
            min_batch_size: 8,
            max_batch_size: 64,
            ..Default::default()
        };
        let mut est = SizeEstimator::default();
        assert_eq!(est.target(&cfg), 64);
        est.observe_out_of_memory(64);
        assert_eq!(est.target(&cfg), 32);
        est.observe_out_of_memory(9);
        assert_eq!(est.target(&cfg), 4, "below min_batch_size: memory wins");
        est.observe_out_of_memory(32);
        assert_eq!(est.target(&cfg), 4, "the cap never goes back up");
        est.observe_out_of_memory(1);
        assert_eq!(est.target(&cfg), 1, "never 0");
    }

    #[test]
    fn without_target_uses_max() {
        let cfg = BatchConfig {
            max_batch_size: 7,
            ..Default::default()
        };
        assert_eq!(SizeEstimator::default().target(&cfg), 7);
    }
}
