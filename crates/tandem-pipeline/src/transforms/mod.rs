//! The transforms, one per file. Each adds methods to [`PCollection`](crate::PCollection).

pub mod co_group;
pub mod flatten;
pub mod group;
pub mod keyed;
pub(crate) mod keyed_state;
pub mod map;
pub mod par_do;
pub mod partition;
pub mod run_inference;
pub mod window_into;
