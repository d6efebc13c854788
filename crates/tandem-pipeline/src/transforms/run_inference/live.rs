//! The inference metrics of a pipeline while it runs, for a live exporter (a Prometheus
//! endpoint): the same counters [`RunReport::inference`](crate::RunReport::inference) holds
//! after the run, readable at any time from another thread.

use tandem_handler::{InferenceMetrics, MetricsReport};

use crate::pipeline::Pipeline;

/// Handles to the metric tables of a pipeline's RunInference steps; cheap to clone, and each
/// [`report`](Self::report) reads the current values (the steps' workers record into the same
/// tables while the pipeline runs).
#[derive(Clone, Default)]
pub struct LiveInferenceMetrics {
    steps: Vec<(String, InferenceMetrics)>,
}

impl LiveInferenceMetrics {
    /// A snapshot of every counter, rows labelled with the step names the steps had when this
    /// view was taken, ordered by step then model id.
    pub fn report(&self) -> MetricsReport {
        let mut models = Vec::new();
        for (name, metrics) in &self.steps {
            for mut row in metrics.report().models {
                row.step = name.clone();
                models.push(row);
            }
        }
        models.sort_by(|a, b| (&a.step, &a.model_id).cmp(&(&b.step, &b.model_id)));
        MetricsReport { models }
    }
}

impl Pipeline {
    /// A live view of the inference metrics of the RunInference steps added so far. Take it
    /// after building and before [`Pipeline::run_with`] (which consumes the pipeline); it
    /// stays valid during and after the run.
    pub fn live_inference_metrics(&self) -> LiveInferenceMetrics {
        let graph = self.graph();
        let steps = graph
            .inference_metrics
            .iter()
            .filter_map(|(step, metrics)| {
                let name = graph.steps.get(*step)?.name.clone();
                Some((name, metrics.clone()))
            })
            .collect();
        LiveInferenceMetrics { steps }
    }
}
