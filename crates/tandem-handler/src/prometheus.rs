//! Prometheus text exposition of a [`MetricsReport`].

use std::fmt::Write;

use crate::metrics::{Histogram, MetricsReport, ModelReport};

impl MetricsReport {
    /// Renders the report in the Prometheus text format (version 0.0.4): counters
    /// `<ns>_inferences_total`, `<ns>_dead_letters_total`, `<ns>_batches_total`,
    /// `<ns>_failed_batches_total`, `<ns>_model_loads_total`, `<ns>_load_failures_total`,
    /// histograms `<ns>_batch_size` and `<ns>_batch_latency_seconds`, gauges
    /// `<ns>_model_load_seconds` and `<ns>_model_bytes`; each labelled with `step` and `model_id`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
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
            let counters: [Counter; 6] = [
                ("inferences_total", "Elements that got a prediction.", |m| {
                    m.stats.inferences
                }),
                (
                    "dead_letters_total",
                    "Elements sent to the dead-letter output.",
                    |m| m.stats.dead_letters,
                ),
                ("batches_total", "run_inference calls.", |m| m.stats.batches),
                ("failed_batches_total", "Failed run_inference calls.", |m| {
                    m.stats.failed_batches
                }),
                ("model_loads_total", "Model loads.", |m| m.stats.model_loads),
                ("load_failures_total", "Failed model loads.", |m| {
                    m.stats.load_failures
                }),
            ];
            for (name, help, get) in counters {
                header(&mut out, ns, name, help, "counter");
                for m in &rows {
                    let _ = writeln!(out, "{ns}_{name}{{{}}} {}", labels(m), get(m));
                }
            }
            header(
                &mut out,
                ns,
                "batch_size",
                "Examples per run_inference call.",
                "histogram",
            );
            for m in &rows {
                histogram(
                    &mut out,
                    &format!("{ns}_batch_size"),
                    m,
                    &m.stats.batch_size,
                );
            }
            let name = "batch_latency_seconds";
            header(
                &mut out,
                ns,
                name,
                "Duration of run_inference calls.",
                "histogram",
            );
            for m in &rows {
                histogram(&mut out, &format!("{ns}_{name}"), m, &m.stats.batch_latency);
            }
            header(
                &mut out,
                ns,
                "model_load_seconds",
                "Time spent loading.",
                "gauge",
            );
            for m in &rows {
                let _ = writeln!(
                    out,
                    "{ns}_model_load_seconds{{{}}} {}",
                    labels(m),
                    m.stats.model_load_seconds
                );
            }
            header(
                &mut out,
                ns,
                "model_bytes",
                "Memory of the loaded copies.",
                "gauge",
            );
            for m in rows.iter().filter(|m| m.stats.model_bytes.is_some()) {
                let bytes = m.stats.model_bytes.unwrap_or(0);
                let _ = writeln!(out, "{ns}_model_bytes{{{}}} {bytes}", labels(m));
            }
        }
        out
    }
}

/// A counter's name suffix, help text and value.
type Counter = (&'static str, &'static str, fn(&ModelReport) -> u64);

fn header(out: &mut String, ns: &str, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {ns}_{name} {help}");
    let _ = writeln!(out, "# TYPE {ns}_{name} {kind}");
}

fn labels(m: &ModelReport) -> String {
    format!(
        "step=\"{}\",model_id=\"{}\"",
        escape(&m.step),
        escape(&m.model_id)
    )
}

fn histogram(out: &mut String, name: &str, m: &ModelReport, h: &Histogram) {
    let base = labels(m);
    let mut cumulative = 0;
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{base},le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{base},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{base}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{base}}} {}", h.count);
}

/// Escapes a label value (backslash, quote, newline) per the exposition format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
