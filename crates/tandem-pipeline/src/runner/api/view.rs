//! Read-only views of a [`Graph`]'s steps and collections, and the two ways a runner brings a
//! step to life: [`Graph::instantiate`] (an executor per worker) and [`Graph::take_source`].

use crate::element::{AnyBox, CloneFn};
use crate::error::Error;
use crate::graph::{Accounting, CollectionId, ErasedSource, Graph, StepExec, StepId, StepKind};
use crate::io::source::EventIter;
use crate::runner::api::executor::{ExecContext, Executor};
use crate::runner::api::placement::Placement;
use crate::window::Windowing;

/// One step, as a runner sees it.
#[derive(Clone, Copy)]
pub struct StepView<'g> {
    graph: &'g Graph,
    id: StepId,
}

impl<'g> StepView<'g> {
    /// The step's index in the graph.
    pub fn id(&self) -> StepId {
        self.id
    }
    fn step(&self) -> &'g crate::graph::Step {
        &self.graph.steps[self.id]
    }
    /// The step's unique name (metrics, errors, dead letters).
    pub fn name(&self) -> &'g str {
        &self.step().name
    }
    /// What the step does.
    pub fn kind(&self) -> StepKind {
        self.step().kind
    }
    /// Collections read, by input port.
    pub fn inputs(&self) -> &'g [CollectionId] {
        &self.step().inputs
    }
    /// Collections written, by output port.
    pub fn outputs(&self) -> &'g [CollectionId] {
        &self.step().outputs
    }
    /// Parallelism the pipeline asked for (`None`: the runner's default). Ignored for
    /// [`Placement::Single`].
    pub fn parallelism(&self) -> Option<usize> {
        self.step().parallelism
    }
    /// How instances may be spread over workers.
    pub fn placement(&self) -> &'g Placement {
        &self.step().placement
    }
    /// Which balance of counts holds for the step.
    pub fn accounting(&self) -> Accounting {
        self.step().accounting
    }
    /// The output port failures go to, if the step declared one.
    pub fn dead_letter_port(&self) -> Option<usize> {
        self.step().dead_letter_port
    }
    /// Windowing of the step's first input (what a grouping step fires by).
    pub fn windowing(&self) -> Windowing {
        self.step()
            .inputs
            .first()
            .map(|&c| self.graph.collections[c].windowing.clone())
            .unwrap_or_default()
    }
    /// The context an instance is created with: instance `worker` of `workers`.
    pub fn context(&self, worker: usize, workers: usize) -> ExecContext {
        ExecContext {
            step: self.name().to_string(),
            tags: self.step().tags.clone(),
            windowing: self.windowing(),
            worker,
            workers,
        }
    }
    /// Declared tagged outputs as `(tag name, port)`.
    pub fn tags(&self) -> Vec<(&'g str, usize)> {
        self.step()
            .tags
            .iter()
            .map(|(n, p, _)| (n.as_str(), *p))
            .collect()
    }
}

/// One collection (an edge), as a runner sees it.
#[derive(Clone, Copy)]
pub struct CollectionView<'g> {
    graph: &'g Graph,
    id: CollectionId,
}

impl<'g> CollectionView<'g> {
    fn col(&self) -> &'g crate::graph::Collection {
        &self.graph.collections[self.id]
    }
    /// The collection's index.
    pub fn id(&self) -> CollectionId {
        self.id
    }
    /// The step producing it and the output port.
    pub fn producer(&self) -> (StepId, usize) {
        (self.col().producer, self.col().port)
    }
    /// The producer's name for this port (`main`, `dead_letters`, a tag name).
    pub fn port_name(&self) -> &'g str {
        &self.col().port_name
    }
    /// The Rust element type, for display.
    pub fn type_name(&self) -> &'static str {
        self.col().type_name
    }
    /// Whether the collection is finite.
    pub fn is_bounded(&self) -> bool {
        self.col().bounded
    }
    /// How its elements are windowed and grouping steps fire.
    pub fn windowing(&self) -> &'g Windowing {
        &self.col().windowing
    }
    /// Clones an element of this collection (for fan-out to several consumers).
    pub fn clone_element(&self, value: &AnyBox) -> AnyBox {
        (self.col().clone)(value)
    }
    /// The codec moving this collection's elements between processes, if the pipeline set one
    /// with [`PCollection::with_coder`](crate::PCollection::with_coder). Keyed steps' inputs
    /// carry theirs in [`Placement::ByKey`]; this one is for the other edges that may cross
    /// processes (into a [`Placement::Single`] step). Its `key_hash` is not a key's.
    pub fn coder(&self) -> Option<std::sync::Arc<dyn crate::runner::api::ShuffleCodec>> {
        self.col().coder.clone()
    }
    /// The function [`clone_element`](CollectionView::clone_element) calls, for runners whose
    /// operators outlive their borrow of the graph (each worker thread of a distributed runner).
    pub fn clone_fn(&self) -> CloneFn {
        self.col().clone
    }
    /// The steps reading this collection, with the input port each reads it on.
    pub fn consumers(&self) -> Vec<(StepId, usize)> {
        let mut out = Vec::new();
        for (sid, step) in self.graph.steps.iter().enumerate() {
            for (port, &c) in step.inputs.iter().enumerate() {
                if c == self.id {
                    out.push((sid, port));
                }
            }
        }
        out
    }
}

/// A source taken out of the graph, to be opened on one worker.
pub struct SourceInstance {
    inner: Box<dyn ErasedSource>,
}

impl SourceInstance {
    /// Opens the share of worker `worker` of `peers` (see
    /// [`Source::open_split`](crate::Source::open_split)). Every process that built the same
    /// pipeline opens its own copy with its own index, and together they read every element
    /// exactly once.
    pub fn open(self, worker: usize, peers: usize) -> Result<EventIter<AnyBox>, Error> {
        self.inner.open_split(worker, peers.max(1))
    }
}

impl Graph {
    /// Every step, in the order they were added (a topological order: a step's inputs are
    /// produced by earlier steps).
    pub fn steps(&self) -> impl ExactSizeIterator<Item = StepView<'_>> + '_ {
        (0..self.steps.len()).map(move |id| StepView { graph: self, id })
    }

    /// The step `id`.
    pub fn step(&self, id: StepId) -> Option<StepView<'_>> {
        (id < self.steps.len()).then_some(StepView { graph: self, id })
    }

    /// Every collection.
    pub fn collections(&self) -> impl ExactSizeIterator<Item = CollectionView<'_>> + '_ {
        (0..self.collections.len()).map(move |id| CollectionView { graph: self, id })
    }

    /// The collection `id`.
    pub fn collection(&self, id: CollectionId) -> Option<CollectionView<'_>> {
        (id < self.collections.len()).then_some(CollectionView { graph: self, id })
    }

    /// A new executor for instance `ctx` of non-source step `id`.
    ///
    /// # Errors
    /// [`Error::InvalidGraph`] if `id` is not a step or is a source.
    pub fn instantiate(&self, id: StepId, ctx: &ExecContext) -> Result<Box<dyn Executor>, Error> {
        match self.steps.get(id).map(|s| &s.exec) {
            Some(StepExec::Worker(factory)) => Ok(factory(ctx)),
            _ => Err(Error::InvalidGraph {
                reason: format!("step #{id} is not an executable (non-source) step"),
            }),
        }
    }

    /// Takes source step `id`'s source out of the graph (a source is consumed by a run).
    /// `None` if `id` is not a source or was taken already.
    pub fn take_source(&mut self, id: StepId) -> Option<SourceInstance> {
        match self.steps.get_mut(id).map(|s| &mut s.exec) {
            Some(StepExec::Source(slot)) => slot.take().map(|inner| SourceInstance { inner }),
            _ => None,
        }
    }

    /// The inference metrics of the graph's RunInference steps, for the run report.
    pub fn inference_report(&self) -> tandem_handler::MetricsReport {
        crate::transforms::run_inference::collect_metrics(self)
    }

    /// The steps upstream of `id` (those whose output can reach it), excluding `id`.
    pub fn upstream(&self, id: StepId) -> Vec<StepId> {
        let mut seen = vec![false; self.steps.len()];
        let mut stack: Vec<StepId> = self
            .steps
            .get(id)
            .map(|s| {
                s.inputs
                    .iter()
                    .map(|&c| self.collections[c].producer)
                    .collect()
            })
            .unwrap_or_default();
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s], true) {
                continue;
            }
            stack.extend(
                self.steps[s]
                    .inputs
                    .iter()
                    .map(|&c| self.collections[c].producer),
            );
        }
        (0..self.steps.len()).filter(|&s| seen[s]).collect()
    }
}
