//! `Pipeline`: the graph under construction, and the entry point for sources and runs.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::graph::{CollectionId, Graph};
use crate::metrics::RunReport;
use crate::pcollection::PCollection;
use crate::runner::{LocalRunner, Runner};

/// A dataflow graph being built. Cheap to clone: clones share the same graph.
///
/// ```
/// use tandem_pipeline::Pipeline;
/// let p = Pipeline::new();
/// let squares = p.create(1..=3u32).map("Square", |x| x * x);
/// let out = squares.collect("Collect");
/// p.run()?;
/// let mut got = out.take();
/// got.sort();
/// assert_eq!(got, vec![1, 4, 9]);
/// # Ok::<(), tandem_pipeline::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Pipeline {
    pub(crate) graph: Arc<Mutex<Graph>>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the graph. A poisoned lock only means another builder thread panicked; the graph
    /// itself is still consistent (every mutation is a push), so keep going.
    pub(crate) fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn same_as(&self, other: &Pipeline) -> bool {
        Arc::ptr_eq(&self.graph, &other.graph)
    }

    pub(crate) fn handle<T>(&self, id: CollectionId) -> PCollection<T> {
        PCollection::from_parts(self.clone(), id)
    }

    /// Runs on the default [`LocalRunner`] (one worker per CPU core per step).
    pub fn run(self) -> Result<RunReport> {
        self.run_with(&LocalRunner::default())
    }

    /// Runs on `runner`. Sources are consumed: a pipeline runs once.
    pub fn run_with<R: Runner + ?Sized>(self, runner: &R) -> Result<RunReport> {
        runner.run_graph(self.into_graph()?)
    }

    /// Takes the finished graph out of the pipeline, for a runner (see
    /// [`crate::runner::api`]). Handles made from this pipeline stay valid for reading
    /// `collect` results after the run.
    ///
    /// # Errors
    /// The first problem found while building (e.g. a group over an unbounded collection
    /// that could never fire), or [`Error::AlreadyRun`].
    pub fn into_graph(self) -> Result<Graph> {
        let graph = {
            let mut g = self.graph();
            if g.ran {
                return Err(Error::AlreadyRun);
            }
            let taken = std::mem::take(&mut *g);
            g.ran = true;
            taken
        };
        if let Some(err) = graph.build_errors.into_iter().next() {
            return Err(err);
        }
        Ok(Graph {
            build_errors: Vec::new(),
            ..graph
        })
    }

    /// The graph as indented text, one step per line.
    pub fn to_text(&self) -> String {
        crate::display::to_text(&self.graph())
    }

    /// The graph in Graphviz dot syntax (`dot -Tsvg`).
    pub fn to_dot(&self) -> String {
        crate::display::to_dot(&self.graph())
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}
