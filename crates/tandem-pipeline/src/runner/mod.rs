//! Runners execute a pipeline's graph. [`LocalRunner`] is the embedded default.

pub mod local;

pub use local::LocalRunner;

use crate::error::Result;
use crate::graph::Graph;
use crate::metrics::RunReport;

/// Executes a graph built with [`Pipeline`](crate::Pipeline). Implemented by the local runner
/// here and by distributed runners elsewhere.
pub trait Runner {
    /// Runs `graph` to completion (bounded sources) or until its sources close (unbounded).
    fn run_graph(&self, graph: Graph) -> Result<RunReport>;
}
