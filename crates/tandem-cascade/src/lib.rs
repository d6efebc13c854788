//! The BLIP→CLIP captioning cascade and the champion/challenger A/B test as Tandem pipeline
//! pieces, generic over [`tandem_tensor::Backend`]: what the `tandem` CLI and the programs in
//! `examples/` share, so a program embeds the cascade without depending on the CLI.
//!
//! ```text
//! read images → BLIP preprocess → RunInference(BLIP, keyed by image id) → post-process
//!     → co_group_by_key with the images → CLIP preprocess → RunInference(CLIP, keyed) → rank
//! ```
//!
//! - [`cascade`]: the builders ([`cascade::build`] and its pieces); every input leaves as an
//!   [`ImageResult`] or an [`ErrorRecord`].
//! - [`ab`]: the same cascade split by key hash between two CLIP arms, and the Welch report
//!   ([`stats`]).
//! - [`preprocess`]: BLIP's and CLIP's image processors as pipeline steps; the model handlers
//!   are the model crates' own (`tandem_blip::BlipHandler`, `tandem_clip::ClipRankHandler`).
//! - [`images`], [`input`]: reading and decoding one input within [`images::ImageLimits`].
//!
//! Writing results (JSON Lines, HTML, progress) is the program's business: collect the two
//! output collections with any `tandem_pipeline` sink.

pub mod ab;
pub mod cascade;
pub mod images;
pub mod input;
pub mod preprocess;
pub mod records;
pub mod shadow;
pub mod stats;

pub use input::{InputRef, InputSource};
pub use records::{ErrorRecord, ImageResult, ScoredCaption};
