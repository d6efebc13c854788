//! Tandem's pipeline core: a typed dataflow graph and the embedded local runner.
//!
//! Build a graph with [`Pipeline`] and typed [`PCollection`] handles, then run it:
//!
//! ```
//! use tandem_pipeline::Pipeline;
//!
//! let p = Pipeline::new();
//! let words = p.create(vec!["a b", "b c"].into_iter().map(String::from));
//! let counts = words
//!     .flat_map("Split", |line: String| line.split(' ').map(String::from).collect::<Vec<_>>())
//!     .count_per_element("Count")
//!     .collect("Collect");
//! let report = p.run()?;
//! let mut got = counts.take();
//! got.sort();
//! assert_eq!(got, vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 1)]);
//! assert!(report.steps.iter().all(|s| s.is_balanced()));
//! # Ok::<(), tandem_pipeline::Error>(())
//! ```
//!
//! The graph is a description: a [`Runner`] executes it. [`LocalRunner`] (the default) runs
//! steps on threads connected by bounded channels. Only elements that cross a shuffle
//! (`group_by_key`, `co_group_by_key`, combines) must be serialisable, so a distributed runner
//! can move them between machines. Runners are written against the public
//! [`runner::api`]; `LocalRunner` uses nothing else.
//!
//! # Batch and streaming
//!
//! The same pipeline runs over a bounded input (a folder) and an unbounded one (stdin, a
//! channel). Every element carries an event time ([`Timestamp`]; for file inputs its position),
//! sources advance a watermark, and the runner propagates the low watermark through every step,
//! including steps that hold elements such as RunInference's batcher. Grouping steps emit a
//! window's groups as soon as the watermark passes its end and drop that state
//! ([`window`]), so results leave while the input is still being read and memory does not grow
//! with the input.
//!
//! # Model inference
//!
//! [`PCollection::run_inference`] runs a [`tandem_handler::ModelHandler`] over a collection
//! with dynamic batching, one model load shared by all workers, failed batches bisected so only
//! bad elements are dead-lettered, and per-model metrics in the run report ([`RunInference`]):
//!
//! ```
//! use tandem_handler::{HandlerError, ModelHandler};
//! use tandem_pipeline::{Pipeline, RunInference};
//!
//! /// `y = scale * x`, refusing negative inputs.
//! struct Scaler;
//! impl ModelHandler for Scaler {
//!     type Example = f32;
//!     type Prediction = f32;
//!     type Model = f32; // the loaded "weights"
//!     type Args = ();
//!     fn load_model(&self) -> Result<f32, HandlerError> {
//!         Ok(10.0)
//!     }
//!     fn run_inference(&self, batch: &[&f32], scale: &f32, _: &()) -> Result<Vec<f32>, HandlerError> {
//!         batch
//!             .iter()
//!             .map(|&&x| match x >= 0.0 {
//!                 true => Ok(scale * x),
//!                 false => Err(HandlerError::inference(format!("negative input {x}"))),
//!             })
//!             .collect()
//!     }
//!     fn model_id(&self) -> String {
//!         "scaler-v1".into()
//!     }
//! }
//!
//! let p = Pipeline::new();
//! let applied = p
//!     .create(vec![1.0f32, 2.0, -1.0, 3.0])
//!     .run_inference("RunInference(Scaler)", RunInference::new(Scaler))
//!     .with_parallelism(2);
//! let failed = applied.dead_letters().collect("Failed");
//! let served = applied.map("Value", |r| r.inference).collect("Served");
//! let report = p.run()?;
//!
//! let mut got = served.take();
//! got.sort_by(f32::total_cmp);
//! assert_eq!(got, vec![10.0, 20.0, 30.0]);
//! assert_eq!(failed.take()[0].element, -1.0);
//! let stats = report.inference.get("RunInference(Scaler)", "scaler-v1").expect("metrics");
//! assert_eq!((stats.inferences, stats.dead_letters), (3, 1));
//! assert!(report.inference_prometheus().contains("tandem_inference_inferences_total"));
//! # Ok::<(), tandem_pipeline::Error>(())
//! ```
//!
//! Failures: an `Err` or panic in user code fails that element. If the step declares a
//! dead-letter output ([`Applied::dead_letters`]) the element goes there with the message;
//! otherwise the run stops with [`Error::ElementFailed`] naming the step and the element.
//! Nothing is dropped silently: [`RunReport`] counts, per step, elements in, out,
//! dead-lettered, filtered and written, and the runner checks they balance.

mod display;
mod element;
mod error;
mod graph;
mod hash;
pub mod io;
mod metrics;
mod pcollection;
mod pipeline;
pub mod runner;
mod timestamp;
pub mod transforms;
pub mod window;

pub use element::Elem;
pub use error::{BoxError, Error, Result};
pub use graph::{Accounting, Graph, StepKind};
pub use hash::stable_hash;
pub use io::{
    ChannelSink, ChannelSource, Collected, ReadFiles, ReadImages, ReadJsonLines, ReadLines, Sink,
    Source, SourceEvent, WriteJsonLines, WriteStdout,
};
pub use metrics::{RunReport, StepMetrics};
pub use pcollection::{Applied, PCollection};
pub use pipeline::Pipeline;
pub use runner::{LocalRunner, Runner, StopHandle};
pub use timestamp::Timestamp;
pub use transforms::co_group::{CoGbkResult, CoGroupByKey, CoGroupTag, CoGrouped};
pub use transforms::group::{Key, ShuffleValue};
pub use transforms::par_do::{DoFn, Emitter, Failed, OutputTag};
pub use transforms::run_inference::{LiveInferenceMetrics, RunInference};
pub use window::{
    Clock, FixedWindows, GlobalWindows, ManualClock, SlidingWindows, SystemClock, Trigger, Window,
    WindowFn, Windowing,
};
