//! Runners execute a pipeline's graph. [`LocalRunner`] is the embedded default; others
//! (the timely-dataflow runner) implement [`Runner`] against the public [`api`].

pub mod api;
pub mod local;
mod stop;

pub use local::LocalRunner;
pub use stop::StopHandle;

use crate::error::Result;
use crate::graph::Graph;
use crate::metrics::RunReport;

/// Executes a graph built with [`Pipeline`](crate::Pipeline). Implemented by the local runner
/// here and by distributed runners elsewhere, using only [`api`].
pub trait Runner {
    /// Runs `graph` to completion (bounded sources) or until its sources close or are stopped
    /// (unbounded).
    fn run_graph(&self, graph: Graph) -> Result<RunReport>;
}
