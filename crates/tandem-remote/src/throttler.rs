//! Client-side adaptive throttling: Beam's `AdaptiveThrottler`
//! (`apache_beam/io/components/adaptive_throttler.py`), after the Google SRE book's chapter
//! "Handling Overload".
//!
//! The client remembers, over a sliding window, how many requests it wanted to send and how
//! many the service accepted. While the service accepts everything, nothing is held back. When
//! it starts refusing (429, 5xx, timeouts), each new request is delayed with probability
//!
//! ```text
//! p = max(0, (requests - K * accepts) / (requests + 1))
//! ```
//!
//! so the client settles at sending about `K` times what the service can take (`K` is the
//! overload ratio, 2 by default as in Beam), instead of hammering it with retries; as refused
//! requests leave the window, `p` falls back to 0 and the rate recovers. Time is read from the
//! caller (an injected clock), and the random draws come from a seeded generator, so a test
//! can replay exactly the same decisions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A sum over a sliding time window, kept in fixed-width buckets (Beam's `MovingSum`).
#[derive(Debug, Clone)]
struct MovingSum {
    bucket: Duration,
    buckets: u64,
    origin: Instant,
    /// `(bucket index since origin, count)`, oldest first.
    counts: VecDeque<(u64, u64)>,
}

impl MovingSum {
    fn new(window: Duration, bucket: Duration, origin: Instant) -> Self {
        let bucket = bucket.max(Duration::from_millis(1));
        let buckets = (window.as_nanos() / bucket.as_nanos()).max(1) as u64;
        MovingSum {
            bucket,
            buckets,
            origin,
            counts: VecDeque::new(),
        }
    }

    fn index(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        (since.as_nanos() / self.bucket.as_nanos()) as u64
    }

    /// Drops buckets that left the window ending at `now`.
    fn expire(&mut self, now: Instant) {
        let current = self.index(now);
        while let Some(&(index, _)) = self.counts.front() {
            if index + self.buckets <= current {
                self.counts.pop_front();
            } else {
                break;
            }
        }
    }

    fn add(&mut self, now: Instant, n: u64) {
        self.expire(now);
        let index = self.index(now);
        match self.counts.back_mut() {
            Some((last, count)) if *last == index => *count += n,
            _ => self.counts.push_back((index, n)),
        }
    }

    fn sum(&mut self, now: Instant) -> u64 {
        self.expire(now);
        self.counts.iter().map(|&(_, c)| c).sum()
    }
}

/// Settings of an [`AdaptiveThrottler`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// How much history decides the throttling probability. Default: 60 s.
    pub window: Duration,
    /// Granularity of that history. Default: 1 s.
    pub bucket: Duration,
    /// `K`: requests sent per request accepted that the client tolerates before holding back.
    /// Default: 2 (Beam's). Values near 1 throttle early; `f64::INFINITY` switches throttling
    /// off.
    pub overload_ratio: f64,
    /// How long a held-back request waits before asking again (Beam's `throttle_delay_secs`).
    /// Default: 1 s.
    pub delay: Duration,
    /// Seed of the random draws, so runs (and tests) are reproducible. Default: 0.
    pub seed: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            window: Duration::from_secs(60),
            bucket: Duration::from_secs(1),
            overload_ratio: 2.0,
            delay: Duration::from_secs(1),
            seed: 0,
        }
    }
}

/// Decides, before each request, whether to hold it back (see the module docs).
#[derive(Debug, Clone)]
pub struct AdaptiveThrottler {
    requests: MovingSum,
    accepts: MovingSum,
    overload_ratio: f64,
    rng: ChaCha8Rng,
}

impl AdaptiveThrottler {
    /// A throttler with no history; `origin` is any instant not after the first request.
    pub fn new(config: &ThrottleConfig, origin: Instant) -> Self {
        AdaptiveThrottler {
            requests: MovingSum::new(config.window, config.bucket, origin),
            accepts: MovingSum::new(config.window, config.bucket, origin),
            overload_ratio: config.overload_ratio,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        }
    }

    /// `max(0, (requests - K * accepts) / (requests + 1))` over the window ending at `now`.
    pub fn probability(&mut self, now: Instant) -> f64 {
        if self.overload_ratio.is_infinite() {
            return 0.0;
        }
        let requests = self.requests.sum(now) as f64;
        let accepts = self.accepts.sum(now) as f64;
        ((requests - self.overload_ratio * accepts) / (requests + 1.0)).max(0.0)
    }

    /// Counts one intended request and says whether to hold it back (true: wait and ask
    /// again). Call once per attempt, before sending.
    pub fn throttle_request(&mut self, now: Instant) -> bool {
        let p = self.probability(now);
        self.requests.add(now, 1);
        // 53 random bits, uniform in [0, 1).
        let draw = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        draw < p
    }

    /// Records that a request sent at `sent` was accepted by the service.
    pub fn successful_request(&mut self, sent: Instant) {
        self.accepts.add(sent, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            window: Duration::from_secs(10),
            bucket: Duration::from_secs(1),
            ..ThrottleConfig::default()
        }
    }

    #[test]
    fn probability_follows_the_formula() {
        let t0 = Instant::now();
        let mut t = AdaptiveThrottler::new(&config(), t0);
        assert_eq!(t.probability(t0), 0.0);
        for _ in 0..9 {
            t.throttle_request(t0);
        }
        // 9 requests, 0 accepts: 9 / 10.
        assert!((t.probability(t0) - 0.9).abs() < 1e-12);
        for _ in 0..3 {
            t.successful_request(t0);
        }
        // (9 - 2 * 3) / 10.
        assert!((t.probability(t0) - 0.3).abs() < 1e-12);
        for _ in 0..2 {
            t.successful_request(t0);
        }
        assert_eq!(t.probability(t0), 0.0, "never negative");
    }

    #[test]
    fn infinite_ratio_never_throttles() {
        let t0 = Instant::now();
        let cfg = ThrottleConfig {
            overload_ratio: f64::INFINITY,
            ..config()
        };
        let mut t = AdaptiveThrottler::new(&cfg, t0);
        assert!((0..100).all(|_| !t.throttle_request(t0)));
    }

    #[test]
    fn history_leaves_the_window() {
        let t0 = Instant::now();
        let mut t = AdaptiveThrottler::new(&config(), t0);
        for _ in 0..100 {
            t.throttle_request(t0);
        }
        assert!(t.probability(t0 + Duration::from_secs(9)) > 0.9);
        assert_eq!(t.probability(t0 + Duration::from_secs(10)), 0.0);
    }

    #[test]
    fn healthy_service_is_never_throttled_and_failing_one_mostly_is() {
        let t0 = Instant::now();
        let mut t = AdaptiveThrottler::new(&config(), t0);
        let healthy = (0..1000)
            .filter(|_| {
                let held = t.throttle_request(t0);
                if !held {
                    t.successful_request(t0);
                }
                held
            })
            .count();
        assert_eq!(healthy, 0);
        let mut t = AdaptiveThrottler::new(&config(), t0);
        let held = (0..1000).filter(|_| t.throttle_request(t0)).count();
        // p climbs to ~1: nearly every attempt after the first few is held back.
        assert!(held > 950, "held {held} of 1000");
    }

    #[test]
    fn same_seed_same_decisions() {
        let t0 = Instant::now();
        let run = || {
            let mut t = AdaptiveThrottler::new(&config(), t0);
            (0..200).map(|_| t.throttle_request(t0)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
