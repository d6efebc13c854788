//! How a handler wants its elements batched.

use std::time::Duration;

use crate::error::HandlerError;

/// How elements of different lengths ([`crate::ModelHandler::element_length`]) share batches.
///
/// Elements only ever batch with elements of the same bucket, so a model that cannot stack
/// ragged tensors never sees them together (Beam's "unable to batch tensors" failure), and a
/// handler that pads pads only up to its bucket's bound, not to the longest outlier (#37414).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Bucketing {
    /// One bucket per distinct length: no padding at all (e.g. image sizes).
    #[default]
    Exact,
    /// Lengths rounded up to the next power of two: at most 2x padding, few buckets.
    PowersOfTwo,
    /// Lengths rounded up to the first bound that holds them (sorted ascending); longer elements
    /// get a bucket of their own length.
    Bounds(Vec<usize>),
}

impl Bucketing {
    /// The bucket an element of `length` falls in (`None` when the handler reports no length).
    pub fn bucket(&self, length: Option<usize>) -> Option<usize> {
        let length = length?;
        Some(match self {
            Bucketing::Exact => length,
            Bucketing::PowersOfTwo => length.checked_next_power_of_two().unwrap_or(length),
            Bucketing::Bounds(bounds) => bounds
                .iter()
                .copied()
                .find(|&b| b >= length)
                .unwrap_or(length),
        })
    }
}

/// Retry with back-off for a failed batch, before bisection.
///
/// Beam retries nothing on its own (#21447): a transient error (a remote endpoint that hiccups, a
/// device briefly out of memory) dead-letters a whole batch. Here a failed batch is retried
/// `transient_retries` times, waiting `backoff`, `2*backoff`, ... (capped at `max_backoff`) on
/// the injected clock; if it still fails it is bisected to find the element at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts of a whole failed batch before bisecting it.
    pub transient_retries: u32,
    /// Wait before the first retry.
    pub backoff: Duration,
    /// Upper bound for the doubling wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            transient_retries: 0,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Dynamic batching settings of one handler (or of one inner handler of a
/// [`crate::KeyModelMapping`], which keeps each inner handler's own settings).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// The smallest size the adaptive sizing may choose (a deadline flush may still send less).
    pub min_batch_size: usize,
    /// The largest batch ever sent.
    pub max_batch_size: usize,
    /// How long the first element of a partial batch may wait before the batch is sent anyway,
    /// so a trickle of elements is not held forever.
    pub max_wait: Duration,
    /// When set, the batch size adapts (between min and max) so one batch takes about this long,
    /// from latencies measured per bucket.
    pub target_batch_duration: Option<Duration>,
    /// When set, the summed [`crate::ModelHandler::element_weight`] of a batch stays within this
    /// budget (tokens, pixels). An element heavier than the budget runs alone.
    pub max_batch_weight: Option<u64>,
    /// How elements of different lengths are grouped.
    pub bucketing: Bucketing,
    /// When set, a batch running longer than this is abandoned and its elements dead-lettered.
    /// Inference then runs on a helper thread, because a running call cannot be interrupted.
    pub batch_timeout: Option<Duration>,
    /// Retries of a failed batch before bisection.
    pub retry: RetryPolicy,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            min_batch_size: 1,
            max_batch_size: 32,
            max_wait: Duration::from_millis(50),
            target_batch_duration: None,
            max_batch_weight: None,
            bucketing: Bucketing::Exact,
            batch_timeout: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl BatchConfig {
    /// Checks the sizes are consistent, naming the offending field.
    pub fn validate(&self) -> Result<(), HandlerError> {
        if self.min_batch_size == 0 {
            return Err(config_error("min_batch_size", "must be at least 1".into()));
        }
        if self.max_batch_size < self.min_batch_size {
            return Err(config_error(
                "max_batch_size",
                format!(
                    "{} is below min_batch_size {}",
                    self.max_batch_size, self.min_batch_size
                ),
            ));
        }
        if self.max_batch_weight == Some(0) {
            return Err(config_error("max_batch_weight", "must be positive".into()));
        }
        if let Bucketing::Bounds(bounds) = &self.bucketing {
            if bounds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(config_error(
                    "bucketing",
                    "bounds must be strictly ascending".into(),
                ));
            }
        }
        Ok(())
    }
}

fn config_error(field: &'static str, reason: String) -> HandlerError {
    HandlerError::Config { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucketing_rounds_as_documented() {
        assert_eq!(Bucketing::Exact.bucket(Some(7)), Some(7));
        assert_eq!(Bucketing::PowersOfTwo.bucket(Some(5)), Some(8));
        assert_eq!(Bucketing::PowersOfTwo.bucket(None), None);
        let b = Bucketing::Bounds(vec![16, 64]);
        assert_eq!(b.bucket(Some(3)), Some(16));
        assert_eq!(b.bucket(Some(64)), Some(64));
        assert_eq!(b.bucket(Some(65)), Some(65));
    }

    #[test]
    fn backoff_doubles_up_to_cap() {
        let r = RetryPolicy {
            transient_retries: 5,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(35),
        };
        let delays: Vec<_> = (1..=4).map(|a| r.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![10, 20, 35, 35]);
    }

    #[test]
    fn validate_names_the_field() {
        let cfg = BatchConfig {
            min_batch_size: 8,
            max_batch_size: 4,
            ..Default::default()
        };
        match cfg.validate() {
            Err(HandlerError::Config { field, .. }) => assert_eq!(field, "max_batch_size"),
            other => panic!("expected config error, got {other:?}"),
        }
        assert!(BatchConfig::default().validate().is_ok());
    }
}
