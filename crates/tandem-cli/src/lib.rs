//! The `tandem` command-line program as a library: the BLIP→CLIP captioning cascade, CLIP
//! zero-shot ranking and the champion/challenger A/B test, each built as a Tandem pipeline,
//! plus the outputs people look at (notebook-style text, JSON Lines, an HTML gallery) and the
//! bookkeeping that makes long runs safe (dead letters, resume).
//!
//! The binary (`src/main.rs`) only parses arguments and picks the backend. The pipelines
//! themselves (cascade, A/B, their records and statistics) are the `tandem-cascade` library,
//! re-exported here under their old paths; this crate adds what only a program needs.

pub mod ab_html;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod error;
pub mod html;
pub mod inputs;
pub mod launch;
pub mod logging;
pub mod metrics;
pub mod output_paths;
pub mod outputs;
pub mod progress;
pub mod resume;
pub mod run;
pub mod weights;

pub use tandem_cascade::{ab, cascade, images, records, shadow, stats};

pub use error::CliError;
