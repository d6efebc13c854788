//! The batching engine: elements in, results and dead letters out.
//!
//! Runner-agnostic and single-threaded: one engine per worker, driven by `push` for each
//! element, `poll` when [`InferenceEngine::next_deadline`] passes, and `flush` at the end of the
//! input (or of a bundle). Full batches run synchronously inside `push`, which is what bounds
//! memory: an engine never holds more than its `max_buffered` waiting elements, whatever the
//! input size. Several engines (workers) share models, metrics and update feeds.

mod buckets;
mod estimator;
mod execute;
mod model;
mod options;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::BatchConfig;
use crate::error::HandlerError;
use crate::handler::ModelHandler;
use crate::metrics::InferenceMetrics;
use crate::output::{Completed, DeadLetter};

use buckets::{Batcher, BucketKey};
use estimator::SizeEstimator;
use execute::StuckBatch;
use model::ModelState;

pub use options::EngineOptions;

/// Dynamic batching, failure isolation and model management for one worker of a step.
pub struct InferenceEngine<H: ModelHandler> {
    handler: Arc<H>,
    args: Arc<H::Args>,
    options: EngineOptions,
    namespace: String,
    max_buffered: usize,
    configs: HashMap<usize, Result<Arc<BatchConfig>, HandlerError>>,
    batcher: Batcher<H::Example>,
    estimators: HashMap<BucketKey, SizeEstimator>,
    model: ModelState<H::Model>,
    seen_generation: u64,
    last_refresh_error: Option<HandlerError>,
    stuck: Vec<StuckBatch<H::Example, H::Prediction>>,
}

/// How often `next_deadline` asks to be polled while a timed-out batch is still running.
const STUCK_POLL: Duration = Duration::from_millis(10);

impl<H: ModelHandler> InferenceEngine<H> {
    /// An engine for `handler` with `inference_args`. Fails only on an invalid batch config;
    /// the model loads at the first batch or at [`InferenceEngine::ensure_loaded`].
    pub fn new(
        handler: Arc<H>,
        inference_args: H::Args,
        options: EngineOptions,
    ) -> Result<Self, HandlerError> {
        let config = handler.batch_config();
        config.validate()?;
        let max_buffered = options
            .max_buffered
            .unwrap_or(config.max_batch_size.saturating_mul(4));
        if max_buffered == 0 {
            return Err(HandlerError::Config {
                field: "max_buffered",
                reason: "must be at least 1".into(),
            });
        }
        Ok(InferenceEngine {
            namespace: handler.metrics_namespace(),
            handler,
            args: Arc::new(inference_args),
            options,
            max_buffered,
            configs: HashMap::new(),
            batcher: Batcher::new(),
            estimators: HashMap::new(),
            model: ModelState::NotLoaded,
            seen_generation: 0,
            last_refresh_error: None,
            stuck: Vec::new(),
        })
    }

    /// Accepts one element; returns whatever completed meanwhile (a batch this element filled,
    /// buckets past their deadline).
    pub fn push(&mut self, example: H::Example) -> Completed<H::Example, H::Prediction> {
        let mut out = Completed::default();
        self.collect_stuck(&mut out, false);
        self.check_refresh();
        let now = self.options.clock.now();
        let group = self.handler.batch_group(&example);
        let cfg = match self.config(group) {
            Ok(cfg) => cfg,
            Err(error) => {
                let model_id = self.model_id_for(group);
                self.dead_letter_all(vec![example], error, &model_id, &mut out);
                return out;
            }
        };
        let key = (
            group,
            cfg.bucketing.bucket(self.handler.element_length(&example)),
        );
        let weight = self.handler.element_weight(&example);
        let target = self.estimators.get(&key).map_or_else(
            || SizeEstimator::default().target(&cfg),
            |estimator| estimator.target(&cfg),
        );
        for (key, batch) in self.batcher.add(key, example, weight, &cfg, target, now) {
            self.run_batch(key, batch, &mut out);
        }
        self.run_due(now, &mut out);
        while self.batcher.buffered() > self.max_buffered {
            let Some((key, batch)) = self.batcher.take_oldest() else {
                break;
            };
            self.run_batch(key, batch, &mut out);
        }
        out
    }

    /// Runs the buckets whose deadline passed (and collects timed-out batches that returned).
    pub fn poll(&mut self) -> Completed<H::Example, H::Prediction> {
        let mut out = Completed::default();
        self.collect_stuck(&mut out, false);
        self.check_refresh();
        let now = self.options.clock.now();
        self.run_due(now, &mut out);
        out
    }

    /// Runs everything waiting, and waits for timed-out batches to return so that every element
    /// pushed so far has left. Call at the end of input.
    pub fn flush(&mut self) -> Completed<H::Example, H::Prediction> {
        let mut out = Completed::default();
        self.check_refresh();
        for (key, batch) in self.batcher.drain() {
            self.run_batch(key, batch, &mut out);
        }
        self.collect_stuck(&mut out, true);
        out
    }

    /// When `poll` next has work: the earliest bucket deadline (soon, while a timed-out batch
    /// has not returned yet).
    pub fn next_deadline(&self) -> Option<Instant> {
        let stuck = (!self.stuck.is_empty()).then(|| self.options.clock.now() + STUCK_POLL);
        match (self.batcher.next_deadline(), stuck) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Elements accepted but not yet completed.
    pub fn buffered(&self) -> usize {
        self.batcher.buffered() + self.stuck.iter().map(StuckBatch::len).sum::<usize>()
    }

    /// The model id currently served (`None` before the first load).
    pub fn current_model_id(&self) -> Option<Arc<str>> {
        match &self.model {
            ModelState::Ready(handle) => Some(handle.model_id().clone()),
            _ => None,
        }
    }

    /// The error of the last model update that failed to load, if the current model is older.
    pub fn last_refresh_error(&self) -> Option<&HandlerError> {
        self.last_refresh_error.as_ref()
    }

    /// The metrics this engine records into.
    pub fn metrics(&self) -> &InferenceMetrics {
        &self.options.metrics
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    fn run_due(&mut self, now: Instant, out: &mut Completed<H::Example, H::Prediction>) {
        for (key, batch) in self.batcher.due(now) {
            self.run_batch(key, batch, out);
        }
    }

    fn config(&mut self, group: usize) -> Result<Arc<BatchConfig>, HandlerError> {
        let handler = &self.handler;
        self.configs
            .entry(group)
            .or_insert_with(|| {
                let cfg = handler.group_batch_config(group);
                cfg.validate().map(|()| Arc::new(cfg))
            })
            .clone()
    }

    fn model_id_for(&self, group: usize) -> Arc<str> {
        if let Some(id) = self.handler.group_model_id(group) {
            return Arc::from(id);
        }
        self.current_model_id()
            .unwrap_or_else(|| Arc::from(self.handler.model_id()))
    }

    fn dead_letter_all(
        &self,
        examples: Vec<H::Example>,
        error: HandlerError,
        model_id: &Arc<str>,
        out: &mut Completed<H::Example, H::Prediction>,
    ) {
        let n = examples.len() as u64;
        self.options
            .metrics
            .record(&self.options.step, model_id, &self.namespace, |s| {
                s.dead_letters += n
            });
        out.dead_letters
            .extend(examples.into_iter().map(|example| DeadLetter {
                example,
                error: error.clone(),
                model_id: model_id.clone(),
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unit;
    impl ModelHandler for Unit {
        type Example = u8;
        type Prediction = u8;
        type Model = ();
        type Args = ();
        fn load_model(&self) -> Result<(), HandlerError> {
            Ok(())
        }
        fn run_inference(&self, b: &[&u8], _: &(), _: &()) -> Result<Vec<u8>, HandlerError> {
            Ok(b.iter().map(|&&x| x).collect())
        }
    }

    /// A runner moves engines into worker threads.
    #[test]
    fn engine_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<InferenceEngine<Unit>>();
    }

    #[test]
    fn invalid_config_and_zero_buffer_are_rejected() {
        let opts = EngineOptions::new("s").with_max_buffered(0);
        let err = InferenceEngine::new(Arc::new(Unit), (), opts).err();
        assert!(matches!(
            err,
            Some(HandlerError::Config {
                field: "max_buffered",
                ..
            })
        ));
    }
}
