//! Inference metrics per step and model id, shared by all workers of a step.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fixed-bucket histogram (Prometheus-style upper bounds, plus an implicit `+Inf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Upper bounds of the buckets, ascending.
    pub bounds: Vec<f64>,
    /// Observations per bucket (non-cumulative); one more entry than `bounds` for `+Inf`.
    pub counts: Vec<u64>,
    /// Sum of observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: Vec<f64>) -> Self {
        let counts = vec![0; bounds.len() + 1];
        Histogram {
            bounds,
            counts,
            sum: 0.0,
            count: 0,
        }
    }

    /// Powers of two from 1 to 4096: batch sizes.
    pub fn batch_sizes() -> Self {
        Self::new((0..=12).map(|p| f64::from(1u32 << p)).collect())
    }

    /// Seconds from 100 µs to about 100 s, x~3 per bucket: batch latencies.
    pub fn latencies() -> Self {
        let mut bounds = Vec::new();
        let mut b = 1e-4;
        while b < 200.0 {
            bounds.push(b);
            bounds.push(b * 2.5);
            bounds.push(b * 5.0);
            b *= 10.0;
        }
        Self::new(bounds)
    }

    /// Adds the observations of `other`. With the same bounds (as every [`ModelStats`]
    /// histogram of one kind has) the result is exact; otherwise each of `other`'s buckets
    /// lands in the first bucket of `self` whose bound is at least its own, so no
    /// observation is lost and none moves to a lower bucket.
    pub fn merge(&mut self, other: &Histogram) {
        for (i, &n) in other.counts.iter().enumerate() {
            let upper = other.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            let idx = self
                .bounds
                .iter()
                .position(|&b| upper <= b)
                .unwrap_or(self.bounds.len());
            if let Some(c) = self.counts.get_mut(idx) {
                *c += n;
            }
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// Records one value.
    pub fn observe(&mut self, value: f64) {
        let idx = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[idx] += 1;
        self.sum += value;
        self.count += 1;
    }
}

/// Counters of one (step, model id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// Metric name prefix ([`crate::ModelHandler::metrics_namespace`]).
    pub namespace: String,
    /// Elements that got a prediction.
    pub inferences: u64,
    /// Elements sent to the dead-letter output.
    pub dead_letters: u64,
    /// `run_inference` calls (retries and bisection halves included).
    pub batches: u64,
    /// `run_inference` calls that failed (error, panic, wrong output count, timeout).
    pub failed_batches: u64,
    /// Failed calls whose error was [`crate::HandlerError::OutOfMemory`]: the batch was split
    /// and later batches of its bucket capped (counted in `failed_batches` too).
    pub out_of_memory_batches: u64,
    /// Size of every `run_inference` call.
    pub batch_size: Histogram,
    /// Duration of every `run_inference` call, in seconds.
    pub batch_latency: Histogram,
    /// Loads done by this step (a model shared with another step is counted where it loaded).
    pub model_loads: u64,
    /// Failed load attempts (each counted once, where it was attempted).
    pub load_failures: u64,
    /// Total time spent loading, in seconds.
    pub model_load_seconds: f64,
    /// Memory of the loaded copies, when the handler reports it.
    pub model_bytes: Option<u64>,
}

impl ModelStats {
    fn new(namespace: &str) -> Self {
        ModelStats {
            namespace: namespace.to_string(),
            inferences: 0,
            dead_letters: 0,
            batches: 0,
            failed_batches: 0,
            out_of_memory_batches: 0,
            batch_size: Histogram::batch_sizes(),
            batch_latency: Histogram::latencies(),
            model_loads: 0,
            load_failures: 0,
            model_load_seconds: 0.0,
            model_bytes: None,
        }
    }
}

impl ModelStats {
    /// Adds the counters of `other` (the same step and model on another process): counts,
    /// histograms, load time and the loaded copies' memory are summed.
    pub fn merge(&mut self, other: &ModelStats) {
        self.inferences += other.inferences;
        self.dead_letters += other.dead_letters;
        self.batches += other.batches;
        self.failed_batches += other.failed_batches;
        self.out_of_memory_batches += other.out_of_memory_batches;
        self.batch_size.merge(&other.batch_size);
        self.batch_latency.merge(&other.batch_latency);
        self.model_loads += other.model_loads;
        self.load_failures += other.load_failures;
        self.model_load_seconds += other.model_load_seconds;
        self.model_bytes = match (self.model_bytes, other.model_bytes) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// One row of a [`MetricsReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The step name.
    pub step: String,
    /// The model id (version) the counters belong to.
    pub model_id: String,
    /// The counters.
    pub stats: ModelStats,
}

/// A snapshot of all counters, ordered by step then model id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricsReport {
    /// One row per (step, model id).
    pub models: Vec<ModelReport>,
}

impl MetricsReport {
    /// The row of `(step, model_id)`.
    pub fn get(&self, step: &str, model_id: &str) -> Option<&ModelStats> {
        self.models
            .iter()
            .find(|m| m.step == step && m.model_id == model_id)
            .map(|m| &m.stats)
    }

    /// Adds `other`'s rows (another process's report of the same pipeline): rows of the same
    /// `(step, model_id)` are merged with [`ModelStats::merge`], others added; the result
    /// stays ordered by step then model id.
    pub fn merge(&mut self, other: &MetricsReport) {
        for row in &other.models {
            match self
                .models
                .iter_mut()
                .find(|m| m.step == row.step && m.model_id == row.model_id)
            {
                Some(mine) => mine.stats.merge(&row.stats),
                None => self.models.push(row.clone()),
            }
        }
        self.models
            .sort_by(|a, b| (&a.step, &a.model_id).cmp(&(&b.step, &b.model_id)));
    }

    /// Sums `field` over all rows of `step`.
    pub fn step_total(&self, step: &str, field: impl Fn(&ModelStats) -> u64) -> u64 {
        self.models
            .iter()
            .filter(|m| m.step == step)
            .map(|m| field(&m.stats))
            .sum()
    }
}

/// The metric sink: cheap to clone, every clone records into the same table.
#[derive(Clone, Default)]
pub struct InferenceMetrics {
    table: Arc<Mutex<BTreeMap<(String, String), ModelStats>>>,
}

impl InferenceMetrics {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `update` to the row of `(step, model_id)`, creating it if needed.
    pub(crate) fn record(
        &self,
        step: &str,
        model_id: &str,
        namespace: &str,
        update: impl FnOnce(&mut ModelStats),
    ) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (step.to_string(), model_id.to_string());
        update(
            table
                .entry(key)
                .or_insert_with(|| ModelStats::new(namespace)),
        );
    }

    pub(crate) fn record_batch(&self, at: &MetricKey<'_>, size: usize, took: Duration, ok: bool) {
        self.record(at.step, at.model_id, at.namespace, |s| {
            s.batches += 1;
            if !ok {
                s.failed_batches += 1;
            }
            s.batch_size.observe(size as f64);
            s.batch_latency.observe(took.as_secs_f64());
        });
    }

    /// A snapshot.
    pub fn report(&self) -> MetricsReport {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let models = table
            .iter()
            .map(|((step, model_id), stats)| ModelReport {
                step: step.clone(),
                model_id: model_id.clone(),
                stats: stats.clone(),
            })
            .collect();
        MetricsReport { models }
    }
}

/// Where a record goes.
pub(crate) struct MetricKey<'a> {
    pub step: &'a str,
    pub model_id: &'a str,
    pub namespace: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_sums() {
        let mut h = Histogram::new(vec![1.0, 10.0]);
        for v in [0.5, 1.0, 3.0, 11.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, vec![2, 1, 1]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 15.5).abs() < 1e-9);
    }

    #[test]
    fn clones_share_the_table() {
        let m = InferenceMetrics::new();
        let other = m.clone();
        let key = MetricKey {
            step: "s",
            model_id: "m",
            namespace: "ns",
        };
        m.record_batch(&key, 4, Duration::from_millis(3), true);
        other.record_batch(&key, 2, Duration::from_millis(1), false);
        let stats = m.report().get("s", "m").cloned().unwrap();
        assert_eq!((stats.batches, stats.failed_batches), (2, 1));
        assert_eq!(stats.batch_size.sum, 6.0);
    }

    #[test]
    fn histograms_merge_exactly_with_equal_bounds_and_upwards_otherwise() {
        let mut a = Histogram::new(vec![1.0, 10.0]);
        let mut b = Histogram::new(vec![1.0, 10.0]);
        a.observe(0.5);
        b.observe(3.0);
        b.observe(20.0);
        a.merge(&b);
        assert_eq!(a.counts, vec![1, 1, 1]);
        assert_eq!((a.count, a.sum), (3, 23.5));
        let mut finer = Histogram::new(vec![0.5, 2.0, 5.0]);
        finer.observe(0.1);
        finer.observe(1.5);
        finer.observe(4.0);
        finer.observe(6.0);
        a.merge(&finer);
        // 0.1 (≤ 0.5) → ≤ 1; 1.5 (≤ 2) and 4 (≤ 5) → ≤ 10; 6 (+Inf) → +Inf.
        assert_eq!(a.counts, vec![2, 3, 2]);
        assert_eq!(a.count, 7);
    }

    #[test]
    fn reports_of_two_processes_merge_by_step_and_model() {
        let key = |step| MetricKey {
            step,
            model_id: "m",
            namespace: "ns",
        };
        let (p0, p1) = (InferenceMetrics::new(), InferenceMetrics::new());
        p0.record_batch(&key("blip"), 4, Duration::from_millis(3), true);
        p1.record_batch(&key("blip"), 2, Duration::from_millis(1), false);
        p1.record_batch(&key("clip"), 8, Duration::from_millis(2), true);
        p0.record("blip", "m", "ns", |s| {
            s.inferences = 4;
            s.model_bytes = Some(100);
        });
        p1.record("blip", "m", "ns", |s| {
            s.inferences = 1;
            s.model_bytes = Some(100);
        });
        let mut merged = p0.report();
        merged.merge(&p1.report());
        let blip = merged.get("blip", "m").unwrap();
        assert_eq!(
            (blip.batches, blip.failed_batches, blip.inferences),
            (2, 1, 5)
        );
        assert_eq!(blip.batch_size.sum, 6.0);
        assert_eq!(blip.batch_size.count, 2);
        assert_eq!(blip.model_bytes, Some(200), "one copy per process");
        assert_eq!(merged.get("clip", "m").map(|s| s.batches), Some(1));
        let steps: Vec<&str> = merged.models.iter().map(|m| m.step.as_str()).collect();
        assert_eq!(steps, ["blip", "clip"]);
    }
}
