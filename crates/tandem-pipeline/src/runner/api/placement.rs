//! [`Placement`]: how a runner may spread a step over its workers.

use std::sync::Arc;

use crate::runner::api::codec::ShuffleCodec;

/// Where a step's instances run and which elements each one sees.
#[derive(Clone)]
pub enum Placement {
    /// Any instance may process any element: run one instance per worker (or the step's
    /// parallelism) and give each element to whichever is free. Element-wise steps; sources,
    /// which are split with [`SourceInstance::open`](crate::runner::api::SourceInstance::open).
    PerWorker,
    /// Elements with the same key must meet in the same instance: run one instance per worker
    /// and route each element to instance `codec.key_hash(element) % instances`, using the
    /// codec of the input port it arrives on (one per input, in port order). Grouping steps.
    ByKey(Vec<Arc<dyn ShuffleCodec>>),
    /// Exactly one instance in the whole run sees every element (a sink writing one file,
    /// `collect`). A distributed runner sends all elements to one worker.
    Single,
}

impl Placement {
    /// A short name: `per-worker`, `by-key` or `single`.
    pub fn name(&self) -> &'static str {
        match self {
            Placement::PerWorker => "per-worker",
            Placement::ByKey(_) => "by-key",
            Placement::Single => "single",
        }
    }
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
