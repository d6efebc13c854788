//! The runner API: what a runner needs to execute a [`Graph`], and nothing private.
//!
//! This is the contract other runners implement. [`LocalRunner`](crate::LocalRunner) is
//! written only against it, and so is the distributed runner on timely-dataflow. A test
//! outside this crate (`tests/second_runner.rs`) implements a sequential interpreter with it and
//! checks that it gives the same results as the local runner.
//!
//! A runner:
//! 1. Reads the graph through [`Graph::steps`] / [`Graph::collections`]: each step's
//!    [`StepKind`](crate::StepKind), ports, parallelism and [`Placement`] (per worker,
//!    partitioned by key with the key's [`ShuffleCodec`] per input port, or one instance).
//! 2. Opens each source's share per worker: [`Graph::take_source`] then
//!    [`SourceInstance::open`]`(worker, peers)`, which yields timestamped elements and
//!    watermarks ([`SourceEvent`](crate::SourceEvent)).
//! 3. Creates one [`Executor`] per instance of every other step with
//!    [`Graph::instantiate`] and drives it as [`Executor`]'s documentation states.
//! 4. Routes each output element to every consumer of its collection
//!    ([`CollectionView::consumers`], cloning with [`CollectionView::clone_element`] for all but
//!    one), to instance `key_hash % instances` for [`Placement::ByKey`] steps, serialised with
//!    the step's codec in the [`WireFormat`] of its choice when it crosses processes.
//! 5. Tracks progress: the input watermark of a step is the minimum over every timestamp that
//!    can still reach it — elements not yet fully processed on the way, sources' watermarks,
//!    and [`Executor::hold`]s upstream — exactly timely-dataflow's frontier. It calls
//!    [`Executor::on_watermark`] as it advances; `Timestamp::MAX` ends the input.
//!    Elements of other collections move between processes only towards a
//!    [`Placement::Single`] step (a sink, `collect`, dead letters gathered in one place): a
//!    runner spanning processes encodes them with the collection's coder
//!    ([`CollectionView::coder`], set by [`PCollection::with_coder`](crate::PCollection::with_coder))
//!    and refuses to start, naming the collection, when a cross-process edge has none.
//! 6. Counts per step what went in and out, and returns a [`RunReport`](crate::RunReport).
//!
//! ```
//! use tandem_pipeline::{runner::api::Placement, Pipeline, StepKind};
//!
//! let p = Pipeline::new();
//! let words = p.create(vec![("a", 1u32), ("b", 2), ("a", 3)]).map("Own", |(k, v)| (k.to_string(), v));
//! let _sums = words.combine_per_key("Sum", 0u32, |a, v| a + v).collect("Out");
//! let graph = p.into_graph()?;
//! let kinds: Vec<(StepKind, &str)> = graph.steps().map(|s| (s.kind(), s.placement().name())).collect();
//! assert_eq!(kinds, vec![
//!     (StepKind::Source, "per-worker"),
//!     (StepKind::ParDo, "per-worker"),
//!     (StepKind::GroupByKey, "by-key"),
//!     (StepKind::Sink, "single"),
//! ]);
//! # Ok::<(), tandem_pipeline::Error>(())
//! ```

mod codec;
mod executor;
mod placement;
mod view;

pub use crate::element::{AnyBox, CloneFn, Element};
pub use crate::graph::{CollectionId, StepId};
pub use crate::io::source::{EventIter, SourceEvent};
pub(crate) use codec::KvCodec;
pub use codec::{CodecError, ShuffleCodec, ValueCodec, WireFormat};
pub(crate) use executor::ExecFactory;
pub use executor::{ExecContext, Executor, Failure, OutputCounts, Outputs, ProcessError};
pub use placement::Placement;
pub use view::{CollectionView, SourceInstance, StepView};

#[allow(unused_imports)] // named in the docs above
use crate::graph::Graph;
