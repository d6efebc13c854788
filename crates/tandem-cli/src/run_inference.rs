//! `RunInference` as a pipeline step: a `DoFn` that drives a `tandem_handler::InferenceEngine`
//! over keyed elements, emitting `(key, PredictionResult)` and sending the elements the model
//! failed on to the step's dead-letter output.
//!
//! One engine per worker; the model is loaded in `setup` (a model that cannot load fails the
//! run once, instead of dead-lettering every element), and shared between workers by the
//! handler crate's registry.

use std::sync::Arc;
use std::time::Instant;

use tandem_handler::{
    Completed, EngineOptions, InferenceEngine, KeyedModelHandler, ModelHandler, PredictionResult,
};
use tandem_pipeline::{BoxError, DoFn, Elem, Emitter};

type Keyed<H> = KeyedModelHandler<String, H>;
type Out<H> = (
    String,
    PredictionResult<<H as ModelHandler>::Example, <H as ModelHandler>::Prediction>,
);

/// Keyed inference over `(image id, example)` elements.
pub struct RunInference<H: ModelHandler> {
    handler: Arc<Keyed<H>>,
    args: H::Args,
    options: EngineOptions,
    engine: Option<InferenceEngine<Keyed<H>>>,
}

impl<H: ModelHandler> RunInference<H>
where
    H::Args: Clone,
{
    /// Serves `handler` with `args`; `step` names its metrics.
    pub fn new(handler: H, args: H::Args, step: &str) -> Self {
        RunInference {
            handler: Arc::new(KeyedModelHandler::new(handler)),
            args,
            options: EngineOptions::new(step),
            engine: None,
        }
    }
}

impl<H: ModelHandler> Clone for RunInference<H>
where
    H::Args: Clone,
{
    fn clone(&self) -> Self {
        RunInference {
            handler: Arc::clone(&self.handler),
            args: self.args.clone(),
            options: self.options.clone(),
            engine: None,
        }
    }
}

impl<H> RunInference<H>
where
    H: ModelHandler,
    H::Example: Elem,
    H::Prediction: Elem,
    H::Args: Clone,
{
    fn route(
        done: Completed<(String, H::Example), H::Prediction>,
        out: &mut Emitter<'_, (String, H::Example), Out<H>>,
    ) {
        for r in done.results {
            out.emit(r.into_keyed());
        }
        for d in done.dead_letters {
            out.fail(d.example, format!("{} ({})", d.error, d.model_id));
        }
    }

    fn engine(&mut self) -> Result<&mut InferenceEngine<Keyed<H>>, BoxError> {
        self.engine
            .as_mut()
            .ok_or_else(|| BoxError::from("RunInference used before setup"))
    }
}

impl<H> DoFn for RunInference<H>
where
    H: ModelHandler,
    H::Example: Elem,
    H::Prediction: Elem,
    H::Args: Clone,
{
    type In = (String, H::Example);
    type Out = Out<H>;

    fn setup(&mut self) -> Result<(), BoxError> {
        let mut engine = InferenceEngine::new(
            Arc::clone(&self.handler),
            self.args.clone(),
            self.options.clone(),
        )?;
        engine.ensure_loaded()?;
        self.engine = Some(engine);
        Ok(())
    }

    fn process(
        &mut self,
        element: Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let done = self.engine()?.push(element);
        Self::route(done, out);
        Ok(())
    }

    fn finish_bundle(
        &mut self,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let done = self.engine()?.flush();
        Self::route(done, out);
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.engine
            .as_ref()
            .and_then(InferenceEngine::next_deadline)
    }

    fn on_deadline(&mut self, out: &mut Emitter<'_, Self::In, Self::Out>) -> Result<(), BoxError> {
        let done = self.engine()?.poll();
        Self::route(done, out);
        Ok(())
    }

    fn teardown(&mut self) {
        self.engine = None;
    }
}
