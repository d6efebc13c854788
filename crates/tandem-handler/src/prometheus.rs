//! Prometheus exposition of a [`MetricsReport`], encoded by `prometheus-client` (the one
//! encoder of these series: the CLI's live endpoint calls [`MetricsReport::encode_prometheus`]
//! from its own collector).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{Histogram, MetricsReport, ModelReport};

type Labels = [(&'static str, String); 2];

fn labels(m: &ModelReport) -> Labels {
    [("step", m.step.clone()), ("model_id", m.model_id.clone())]
}

/// A scalar series: name suffix, help, type, value (`None`: no sample for that row).
type Scalar = (
    &'static str,
    &'static str,
    MetricType,
    fn(&ModelReport) -> Option<f64>,
);

const SCALARS: [Scalar; 9] = [
    (
        "inferences",
        "Elements that got a prediction.",
        MetricType::Counter,
        |m| Some(m.stats.inferences as f64),
    ),
    (
        "dead_letters",
        "Elements sent to the dead-letter output.",
        MetricType::Counter,
        |m| Some(m.stats.dead_letters as f64),
    ),
    (
        "batches",
        "run_inference calls.",
        MetricType::Counter,
        |m| Some(m.stats.batches as f64),
    ),
    (
        "failed_batches",
        "Failed run_inference calls.",
        MetricType::Counter,
        |m| Some(m.stats.failed_batches as f64),
    ),
    (
        "out_of_memory_batches",
        "run_inference calls that ran out of memory (the batch was split and later batches capped).",
        MetricType::Counter,
        |m| Some(m.stats.out_of_memory_batches as f64),
    ),
    ("model_loads", "Model loads.", MetricType::Counter, |m| {
        Some(m.stats.model_loads as f64)
    }),
    (
        "load_failures",
        "Failed model loads.",
        MetricType::Counter,
        |m| Some(m.stats.load_failures as f64),
    ),
    (
        "model_load_seconds",
        "Time spent loading the model.",
        MetricType::Gauge,
        |m| Some(m.stats.model_load_seconds),
    ),
    (
        "model_bytes",
        "Memory of the loaded model copies, when the handler reports it.",
        MetricType::Gauge,
        |m| m.stats.model_bytes.map(|b| b as f64),
    ),
];

/// A histogram series: name suffix, help, the histogram of a row.
type Hist = (&'static str, &'static str, fn(&ModelReport) -> &Histogram);

const HISTOGRAMS: [Hist; 2] = [
    ("batch_size", "Examples per run_inference call.", |m| {
        &m.stats.batch_size
    }),
    (
        "batch_latency_seconds",
        "Duration of run_inference calls.",
        |m| &m.stats.batch_latency,
    ),
];

impl MetricsReport {
    /// Encodes the report into a `prometheus-client` collector's encoder: per handler
    /// namespace `<ns>`, counters `<ns>_inferences_total`, `<ns>_dead_letters_total`,
    /// `<ns>_batches_total`, `<ns>_failed_batches_total`, `<ns>_out_of_memory_batches_total`,
    /// `<ns>_model_loads_total`, `<ns>_load_failures_total`; histograms `<ns>_batch_size`
    /// and `<ns>_batch_latency_seconds` (seconds); gauges `<ns>_model_load_seconds` and
    /// `<ns>_model_bytes` (only where the handler reports memory). Every series is labelled
    /// with `step` and `model_id`.
    ///
    /// # Errors
    /// Whatever the encoder's writer returns.
    pub fn encode_prometheus(&self, enc: &mut DescriptorEncoder) -> std::fmt::Result {
        let mut namespaces: Vec<&str> = self
            .models
            .iter()
            .map(|m| m.stats.namespace.as_str())
            .collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        for ns in namespaces {
            let rows: Vec<&ModelReport> = self
                .models
                .iter()
                .filter(|m| m.stats.namespace == ns)
                .collect();
            for (name, help, kind, value) in &SCALARS {
                let name = format!("{ns}_{name}");
                let mut family = enc.encode_descriptor(&name, help, None, *kind)?;
                for m in &rows {
                    let Some(v) = value(m) else { continue };
                    let labels = labels(m);
                    let mut series = family.encode_family(&labels)?;
                    match kind {
                        MetricType::Counter => series.encode_counter::<Labels, _, f64>(&v, None)?,
                        _ => series.encode_gauge(&v)?,
                    }
                }
            }
            for (name, help, get) in HISTOGRAMS {
                let name = format!("{ns}_{name}");
                let mut family = enc.encode_descriptor(&name, help, None, MetricType::Histogram)?;
                for m in &rows {
                    let h = get(m);
                    // Per-bucket counts of the finite bounds; the encoder adds `+Inf` = count.
                    let buckets: Vec<(f64, u64)> = h
                        .bounds
                        .iter()
                        .copied()
                        .zip(h.counts.iter().copied())
                        .collect();
                    let labels = labels(m);
                    family
                        .encode_family(&labels)?
                        .encode_histogram::<Labels>(h.sum, h.count, &buckets, None)?;
                }
            }
        }
        Ok(())
    }

    /// The report in the Prometheus text exposition format (version 0.0.4), as
    /// [`Self::encode_prometheus`] describes it.
    pub fn to_prometheus(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot(self.clone())));
        let mut out = String::new();
        // Writing into a `String` cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// A fixed report as a collector.
#[derive(Debug)]
struct Snapshot(MetricsReport);

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        self.0.encode_prometheus(&mut enc)
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::{InferenceMetrics, MetricKey};
    use std::time::Duration;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = InferenceMetrics::new();
        let key = MetricKey {
            step: "Caption",
            model_id: "blip\"v1\"",
            namespace: "tandem",
        };
        m.record_batch(&key, 3, Duration::from_millis(2), true);
        m.record_batch(&key, 8, Duration::from_millis(2), false);
        let text = m.report().to_prometheus();
        let labels = "step=\"Caption\",model_id=\"blip\\\"v1\\\"\"";
        assert!(
            text.contains(&format!("tandem_batches_total{{{labels}}} 2")),
            "{text}"
        );
        assert!(text.contains(&format!("tandem_failed_batches_total{{{labels}}} 1")));
        assert!(text.contains(&format!("tandem_batch_size_bucket{{{labels},le=\"4\"}} 1")));
        assert!(text.contains(&format!("tandem_batch_size_bucket{{{labels},le=\"8\"}} 2")));
        assert!(text.contains(&format!("tandem_batch_size_sum{{{labels}}} 11")));
        assert!(text.contains("# TYPE tandem_batch_latency_seconds histogram"));
    }
}
