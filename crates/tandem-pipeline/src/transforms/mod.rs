//! The transforms, one per file. Each adds methods to [`PCollection`](crate::PCollection).

pub mod co_group;
pub mod flatten;
pub mod group;
pub mod keyed;
pub mod map;
pub(crate) mod panes;
pub mod par_do;
pub mod partition;
pub mod run_inference;
pub mod window_into;
