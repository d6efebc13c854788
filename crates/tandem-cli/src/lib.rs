//! The `tandem` command-line program as a library: the BLIP→CLIP captioning cascade, CLIP
//! zero-shot ranking and the champion/challenger A/B test, each built as a Tandem pipeline,
//! plus the outputs people look at (notebook-style text, JSON Lines, an HTML gallery) and the
//! bookkeeping that makes long runs safe (dead letters, resume).
//!
//! The binary (`src/main.rs`) only parses arguments and picks the backend; everything here is
//! generic over [`tandem_tensor::Backend`], and the examples in `examples/` use it directly.

pub mod ab;
pub mod backend;
pub mod cascade;
pub mod cli;
pub mod commands;
pub mod error;
pub mod html;
pub mod images;
pub mod inputs;
pub mod launch;
pub mod models;
pub mod outputs;
pub mod progress;
pub mod records;
pub mod resume;
pub mod run;
pub mod stats;
pub mod weights;

pub use error::CliError;
