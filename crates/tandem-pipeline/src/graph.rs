//! The pipeline graph: steps (nodes) and the typed collections (edges) between them.
//!
//! This is a description only. Steps hold type-erased factories and metadata (kind, names,
//! element types, boundedness, windowing, placement and shuffle codecs); a runner reads it
//! through the public views of [`crate::runner::api`] and decides how to execute it.

use crate::element::{clone_fn, CloneFn, Elem};
use crate::error::Error;
use crate::io::source::EventIter;
use crate::runner::api::{ExecFactory, Placement};
use crate::window::Windowing;

/// Index of a step in its graph.
pub type StepId = usize;
/// Index of a collection in its graph.
pub type CollectionId = usize;

/// What a step does, as far as a runner needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Produces elements from outside the pipeline.
    Source,
    /// Element-wise user code or a built-in element-wise transform.
    ParDo,
    /// Merges several collections of one type.
    Flatten,
    /// Groups values by key (a shuffle).
    GroupByKey,
    /// Groups several keyed inputs by key (a shuffle).
    CoGroupByKey,
    /// Writes elements outside the pipeline.
    Sink,
}

/// Which balance the runner checks for a step's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accounting {
    /// Every input element yields exactly one outcome: one output (on any port), a dead letter,
    /// a deliberate filter drop, or a sink write.
    Exact,
    /// Outputs per input vary (flat_map, par_do, grouping): only inputs are checked.
    Variable,
}

/// An erased source: opened once per worker by the runner.
pub(crate) trait ErasedSource: Send {
    fn open_split(
        self: Box<Self>,
        worker: usize,
        peers: usize,
    ) -> Result<EventIter<crate::element::AnyBox>, Error>;
}

/// How a step runs.
pub(crate) enum StepExec {
    /// Taken by the runner when it runs.
    Source(Option<Box<dyn ErasedSource>>),
    Worker(ExecFactory),
}

pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) kind: StepKind,
    pub(crate) inputs: Vec<CollectionId>,
    pub(crate) outputs: Vec<CollectionId>,
    /// Requested parallelism; `None` means the runner's default.
    pub(crate) parallelism: Option<usize>,
    pub(crate) placement: Placement,
    pub(crate) accounting: Accounting,
    pub(crate) exec: StepExec,
    /// Declared tagged outputs: name, port, element type.
    pub(crate) tags: Vec<(String, usize, std::any::TypeId)>,
    pub(crate) dead_letter_port: Option<usize>,
}

/// A typed edge.
pub(crate) struct Collection {
    pub(crate) producer: StepId,
    pub(crate) port: usize,
    pub(crate) port_name: String,
    pub(crate) type_name: &'static str,
    pub(crate) bounded: bool,
    pub(crate) windowing: Windowing,
    pub(crate) clone: CloneFn,
    /// How to move the collection's elements between processes, when the pipeline set one
    /// ([`PCollection::with_coder`](crate::PCollection::with_coder)).
    pub(crate) coder: Option<std::sync::Arc<dyn crate::runner::api::ShuffleCodec>>,
}

#[derive(Default)]
/// A pipeline graph handed to a [`Runner`](crate::Runner). Runners read it through
/// [`Graph::steps`], [`Graph::collections`] and friends ([`crate::runner::api`]).
pub struct Graph {
    pub(crate) steps: Vec<Step>,
    pub(crate) collections: Vec<Collection>,
    /// Problems found while building, reported by `run` (building itself never fails, so the
    /// builder API stays chainable).
    pub(crate) build_errors: Vec<Error>,
    pub(crate) ran: bool,
    /// The metrics sink of each RunInference step, collected into the run report.
    pub(crate) inference_metrics: Vec<(StepId, tandem_handler::InferenceMetrics)>,
}

/// Everything needed to add a step, besides its outputs.
pub(crate) struct StepSpec {
    pub(crate) name: String,
    pub(crate) kind: StepKind,
    pub(crate) inputs: Vec<CollectionId>,
    pub(crate) placement: Placement,
    pub(crate) accounting: Accounting,
    pub(crate) exec: StepExec,
}

impl Graph {
    /// Adds a step; its name is made unique by suffixing ` (2)`, ` (3)`...
    pub(crate) fn add_step(&mut self, spec: StepSpec) -> StepId {
        let name = self.unique_name(spec.name);
        self.steps.push(Step {
            name,
            kind: spec.kind,
            inputs: spec.inputs,
            outputs: Vec::new(),
            parallelism: None,
            placement: spec.placement,
            accounting: spec.accounting,
            exec: spec.exec,
            tags: Vec::new(),
            dead_letter_port: None,
        });
        self.steps.len() - 1
    }

    fn unique_name(&self, base: String) -> String {
        let taken = |n: &str| self.steps.iter().any(|s| s.name == n);
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|i| format!("{base} ({i})"))
            .find(|n| !taken(n))
            .unwrap_or(base)
    }

    /// Adds output port `port_name` of type `T` to `step`. Boundedness and windowing are
    /// inherited from the step's inputs unless given.
    pub(crate) fn add_output<T: Elem>(
        &mut self,
        step: StepId,
        port_name: &str,
        bounded: Option<bool>,
        windowing: Option<Windowing>,
    ) -> CollectionId {
        let inputs = &self.steps[step].inputs;
        let inherited_bounded = inputs.iter().all(|&c| self.collections[c].bounded);
        let inherited_windowing = inputs
            .first()
            .map(|&c| self.collections[c].windowing.clone())
            .unwrap_or_default();
        let port = self.steps[step].outputs.len();
        self.collections.push(Collection {
            producer: step,
            port,
            port_name: port_name.to_string(),
            type_name: std::any::type_name::<T>(),
            bounded: bounded.unwrap_or(inherited_bounded),
            windowing: windowing.unwrap_or(inherited_windowing),
            clone: clone_fn::<T>(),
            coder: None,
        });
        let id = self.collections.len() - 1;
        self.steps[step].outputs.push(id);
        id
    }
}
