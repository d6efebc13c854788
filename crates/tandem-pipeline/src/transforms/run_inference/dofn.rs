//! The `DoFn` behind a RunInference step: one [`InferenceEngine`] per worker instance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tandem_handler::{
    Completed, EngineOptions, HandlerError, InferenceEngine, ModelHandler, PredictionResult,
};

use crate::element::Elem;
use crate::error::BoxError;
use crate::timestamp::Timestamp;
use crate::transforms::par_do::{DoFn, Emitter};

use super::step_handler::{Stamped, StepHandler};

/// Adapts the engine's calls to the `DoFn` lifecycle:
/// `setup` → engine + `ensure_loaded`, `process` → `push`, `next_deadline`/`on_deadline` →
/// the engine's deadline and `poll`, `finish_bundle` (also run at end of input) → `flush`.
/// Results go to the main output and the engine's dead letters to the step's dead-letter
/// output, so every input leaves exactly once, each with its own timestamp and window; the
/// timestamps of buffered elements hold the watermark downstream until they leave.
pub(crate) struct InferenceDoFn<H: ModelHandler> {
    pub(crate) handler: Arc<StepHandler<H>>,
    pub(crate) args: Arc<H::Args>,
    /// Shared by every worker: clock, model manager, metrics and update feed.
    pub(crate) options: EngineOptions,
    /// The first loading failure of any worker of the step. Later workers report it instead
    /// of loading again: the manager forgets a failure once no engine pins it, and a failed
    /// worker tears down before its siblings may have started.
    pub(crate) load_failure: Arc<Mutex<Option<HandlerError>>>,
    /// Built in `setup`; `None` in the prototype the runner clones per worker.
    pub(crate) engine: Option<InferenceEngine<StepHandler<H>>>,
    /// Timestamps of the elements inside the engine, with their counts (the watermark hold).
    pub(crate) in_flight: BTreeMap<Timestamp, usize>,
}

impl<H: ModelHandler> Clone for InferenceDoFn<H> {
    /// A fresh worker: shares the handler, args and options, never the engine (its buffered
    /// elements belong to the worker that accepted them).
    fn clone(&self) -> Self {
        InferenceDoFn {
            handler: Arc::clone(&self.handler),
            args: Arc::clone(&self.args),
            options: self.options.clone(),
            load_failure: Arc::clone(&self.load_failure),
            engine: None,
            in_flight: BTreeMap::new(),
        }
    }
}

type Out<H> = PredictionResult<<H as ModelHandler>::Example, <H as ModelHandler>::Prediction>;

impl<H> InferenceDoFn<H>
where
    H: ModelHandler,
    H::Example: Elem,
    H::Prediction: Elem,
{
    fn engine(&mut self) -> Result<&mut InferenceEngine<StepHandler<H>>, BoxError> {
        if self.engine.is_none() {
            self.setup()?;
        }
        self.engine
            .as_mut()
            .ok_or_else(|| BoxError::from("the inference engine was not set up"))
    }
}

/// Sends what the engine completed to the step's outputs, each at its own timestamp and
/// window, and releases their holds.
fn route<E: Elem, P: Elem>(
    done: Completed<Stamped<E>, P>,
    in_flight: &mut BTreeMap<Timestamp, usize>,
    out: &mut Emitter<'_, E, PredictionResult<E, P>>,
) {
    let mut release = |t: Timestamp| {
        if let Some(n) = in_flight.get_mut(&t) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&t);
            }
        }
    };
    for result in done.results {
        let Stamped {
            value,
            timestamp,
            window,
        } = result.example;
        release(timestamp);
        let result = PredictionResult {
            example: value,
            inference: result.inference,
            model_id: result.model_id,
        };
        out.emit_at(result, timestamp, window);
    }
    for dead in done.dead_letters {
        let Stamped {
            value,
            timestamp,
            window,
        } = dead.example;
        release(timestamp);
        out.fail_at(
            value,
            format_args!("model {}: {}", dead.model_id, dead.error),
            timestamp,
            window,
        );
    }
}

impl<H> DoFn for InferenceDoFn<H>
where
    H: ModelHandler,
    H::Example: Elem,
    H::Prediction: Elem,
{
    type In = H::Example;
    type Out = Out<H>;

    /// Builds this worker's engine and loads the model (once per process per model id, through
    /// the shared manager), so a model that cannot load fails the run before any element is
    /// read, with the loading error.
    fn setup(&mut self) -> Result<(), BoxError> {
        let mut failure = self
            .load_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(error) = failure.as_ref() {
            return Err(error.clone().into());
        }
        let mut engine = InferenceEngine::new(
            Arc::clone(&self.handler),
            Arc::clone(&self.args),
            self.options.clone(),
        )?;
        // Under the lock, so workers starting together wait for one load or one failure.
        if let Err(error) = engine.ensure_loaded() {
            *failure = Some(error.clone());
            return Err(error.into());
        }
        drop(failure);
        self.engine = Some(engine);
        Ok(())
    }

    fn process(
        &mut self,
        element: H::Example,
        out: &mut Emitter<'_, H::Example, Out<H>>,
    ) -> Result<(), BoxError> {
        let stamped = Stamped {
            value: element,
            timestamp: out.timestamp(),
            window: out.window(),
        };
        *self.in_flight.entry(stamped.timestamp).or_default() += 1;
        let done = self.engine()?.push(stamped);
        route(done, &mut self.in_flight, out);
        Ok(())
    }

    fn finish_bundle(&mut self, out: &mut Emitter<'_, H::Example, Out<H>>) -> Result<(), BoxError> {
        if let Some(engine) = self.engine.as_mut() {
            route(engine.flush(), &mut self.in_flight, out);
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.engine
            .as_ref()
            .and_then(InferenceEngine::next_deadline)
    }

    fn on_deadline(&mut self, out: &mut Emitter<'_, H::Example, Out<H>>) -> Result<(), BoxError> {
        if let Some(engine) = self.engine.as_mut() {
            route(engine.poll(), &mut self.in_flight, out);
        }
        Ok(())
    }

    fn hold(&self) -> Option<Timestamp> {
        self.in_flight.keys().next().copied()
    }

    fn held(&self) -> usize {
        self.engine.as_ref().map_or(0, InferenceEngine::buffered)
    }

    fn teardown(&mut self) {
        // Dropping the engine releases this worker's hold on the model.
        self.engine = None;
    }
}
