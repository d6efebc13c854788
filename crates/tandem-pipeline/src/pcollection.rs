//! `PCollection<T>`: a typed handle on a collection in the graph, and `Applied<I, O>`, the
//! output of an element-wise step that can also expose the step's dead-letter and tagged
//! side outputs.

use std::any::TypeId;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::element::Elem;
use crate::graph::{Accounting, CollectionId, StepExec, StepId, StepKind, StepSpec};
use crate::pipeline::Pipeline;
use crate::runner::api::{ExecFactory, Placement};
use crate::transforms::par_do::{Failed, OutputTag};

/// A typed, immutable collection of elements in a pipeline. Transforms take `&self` and
/// return new collections, so a collection can feed several steps (elements are cloned).
pub struct PCollection<T> {
    pub(crate) pipeline: Pipeline,
    pub(crate) id: CollectionId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for PCollection<T> {
    fn clone(&self) -> Self {
        Self::from_parts(self.pipeline.clone(), self.id)
    }
}

impl<T> std::fmt::Debug for PCollection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.pipeline.graph();
        match g.collections.get(self.id) {
            Some(c) => write!(
                f,
                "PCollection<{}>({}.{})",
                c.type_name, g.steps[c.producer].name, c.port_name
            ),
            None => write!(
                f,
                "PCollection(#{} of a pipeline that already ran)",
                self.id
            ),
        }
    }
}

impl<T> PCollection<T> {
    pub(crate) fn from_parts(pipeline: Pipeline, id: CollectionId) -> Self {
        Self {
            pipeline,
            id,
            _t: PhantomData,
        }
    }

    /// The pipeline this collection belongs to.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn producer(&self) -> Option<StepId> {
        self.pipeline
            .graph()
            .collections
            .get(self.id)
            .map(|c| c.producer)
    }

    /// Renames the step that produced this collection (names appear in metrics, errors and
    /// the printed graph). Names are made unique with a ` (2)` suffix when taken.
    pub fn named(self, name: impl Into<String>) -> Self {
        let name = name.into();
        if let Some(step) = self.producer() {
            let mut g = self.pipeline.graph();
            let taken = g
                .steps
                .iter()
                .enumerate()
                .any(|(i, s)| i != step && s.name == name);
            g.steps[step].name = if taken {
                (2..)
                    .map(|i| format!("{name} ({i})"))
                    .find(|n| !g.steps.iter().any(|s| &s.name == n))
                    .unwrap_or(name)
            } else {
                name
            };
        }
        self
    }

    /// Sets how many parallel workers run the step that produced this collection (for a
    /// grouping step: how many key partitions). Ignored for single-instance steps (sinks).
    /// Zero is treated as one.
    pub fn with_parallelism(self, workers: usize) -> Self {
        if let Some(step) = self.producer() {
            self.pipeline.graph().steps[step].parallelism = Some(workers.max(1));
        }
        self
    }
}

impl<T: Elem + serde::Serialize + serde::de::DeserializeOwned> PCollection<T> {
    /// Lets a distributed runner move this collection's elements between processes (Beam's
    /// `setCoder`), in the binary wire format of [`runner::api`](crate::runner::api).
    ///
    /// Keyed steps (group, co-group, combine) carry their own codecs; this is needed for a
    /// collection read by a single-instance step (a sink, [`collect`](PCollection::collect),
    /// dead letters written to one file) when the pipeline runs on several processes: there
    /// every process's share must reach the one instance. The local runner ignores it.
    pub fn with_coder(self) -> Self {
        if let Some(col) = self.pipeline.graph().collections.get_mut(self.id) {
            col.coder = Some(std::sync::Arc::new(
                crate::runner::api::ValueCodec::<T>::new(),
            ));
        }
        self
    }
}

/// Parameters for adding an element-wise step.
pub(crate) struct ElementWise {
    pub(crate) name: String,
    pub(crate) kind: StepKind,
    pub(crate) accounting: Accounting,
    pub(crate) placement: Placement,
    pub(crate) factory: ExecFactory,
}

impl<T: Elem> PCollection<T> {
    /// Adds a one-input step reading `self` with one main output of type `U`.
    pub(crate) fn add_element_wise<U: Elem>(&self, spec: ElementWise) -> PCollection<U> {
        let mut g = self.pipeline.graph();
        let step = g.add_step(StepSpec {
            name: spec.name,
            kind: spec.kind,
            inputs: vec![self.id],
            placement: spec.placement,
            accounting: spec.accounting,
            exec: StepExec::Worker(spec.factory),
        });
        let out = g.add_output::<U>(step, "main", None, None);
        drop(g);
        self.pipeline.handle(out)
    }

    /// Adds a step with no outputs (a sink).
    pub(crate) fn add_sink_step(&self, name: String, factory: ExecFactory) {
        self.pipeline.graph().add_step(StepSpec {
            name,
            kind: StepKind::Sink,
            inputs: vec![self.id],
            placement: Placement::Single,
            accounting: Accounting::Exact,
            exec: StepExec::Worker(factory),
        });
    }
}

/// The main output of an element-wise step on `I`s producing `O`s. Dereferences to
/// `PCollection<O>`, so transforms chain directly; additionally exposes the step's
/// dead-letter output and tagged side outputs.
pub struct Applied<I, O> {
    main: PCollection<O>,
    _i: PhantomData<fn() -> I>,
}

impl<I, O> Clone for Applied<I, O> {
    fn clone(&self) -> Self {
        Self {
            main: self.main.clone(),
            _i: PhantomData,
        }
    }
}

impl<I, O> Deref for Applied<I, O> {
    type Target = PCollection<O>;
    fn deref(&self) -> &PCollection<O> {
        &self.main
    }
}

impl<I, O> From<Applied<I, O>> for PCollection<O> {
    fn from(a: Applied<I, O>) -> Self {
        a.main
    }
}

impl<I, O> std::fmt::Debug for Applied<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.main.fmt(f)
    }
}

impl<I: Elem, O: Elem> Applied<I, O> {
    pub(crate) fn new(main: PCollection<O>) -> Self {
        Self {
            main,
            _i: PhantomData,
        }
    }

    /// The main output as a plain collection.
    pub fn output(&self) -> PCollection<O> {
        self.main.clone()
    }

    /// See [`PCollection::named`].
    pub fn named(self, name: impl Into<String>) -> Self {
        Self::new(self.main.named(name))
    }

    /// See [`PCollection::with_parallelism`].
    pub fn with_parallelism(self, workers: usize) -> Self {
        Self::new(self.main.with_parallelism(workers))
    }

    /// The step's dead-letter output: every input element whose processing returned an error
    /// or panicked, with the message. Declaring it is what lets a run survive bad elements;
    /// without it, the first failure fails the run. Calling it twice returns the same output.
    pub fn dead_letters(&self) -> PCollection<Failed<I>> {
        let Some(step) = self.main.producer() else {
            return self.main.pipeline.handle(usize::MAX);
        };
        let mut g = self.main.pipeline.graph();
        let id = match g.steps[step].dead_letter_port {
            Some(port) => g.steps[step].outputs[port],
            None => {
                let id = g.add_output::<Failed<I>>(step, "dead_letters", None, None);
                let port = g.collections[id].port;
                g.steps[step].dead_letter_port = Some(port);
                id
            }
        };
        drop(g);
        self.main.pipeline.handle(id)
    }

    /// The step's output for `tag` (elements user code sent with
    /// [`Emitter::output`](crate::Emitter::output)). Calling it twice with the same tag returns
    /// the same output. Emitting to a tag that was never declared fails the element.
    pub fn side_output<U: Elem>(&self, tag: &OutputTag<U>) -> PCollection<U> {
        let Some(step) = self.main.producer() else {
            return self.main.pipeline.handle(usize::MAX);
        };
        let mut g = self.main.pipeline.graph();
        let ty = TypeId::of::<U>();
        let existing = g.steps[step]
            .tags
            .iter()
            .find(|(n, _, t)| n == tag.name() && *t == ty)
            .map(|(_, port, _)| *port);
        let id = match existing {
            Some(port) => g.steps[step].outputs[port],
            None => {
                let id = g.add_output::<U>(step, tag.name(), None, None);
                let port = g.collections[id].port;
                g.steps[step].tags.push((tag.name().to_string(), port, ty));
                id
            }
        };
        drop(g);
        self.main.pipeline.handle(id)
    }
}

impl<I: Elem, O: Elem + serde::Serialize + serde::de::DeserializeOwned> Applied<I, O> {
    /// See [`PCollection::with_coder`] (the main output's coder).
    pub fn with_coder(self) -> Self {
        Self::new(self.main.with_coder())
    }
}
