//! Fetches model checkpoint directories from the Hugging Face Hub into a local cache, the way
//! `tandem caption` and `cargo xtask fetch-weights` need them.
//!
//! - **Resume**: a file is downloaded into `<name>.part` and continued with an HTTP `Range`
//!   request after an interruption; it is renamed into place only when complete and verified.
//! - **Verification**: for files stored in Git LFS (the weights) the hub sends the sha256 and
//!   size of the content in the `X-Linked-Etag` / `X-Linked-Size` headers of the `resolve`
//!   response; the downloaded bytes must hash to exactly that, or the file is deleted and the
//!   download refused. Small non-LFS files (configs, vocabularies) carry only a git blob id,
//!   so only their length is checked.
//! - **Offline**: an unreachable hub is reported as [`HubError::Unreachable`] right away
//!   (connect timeout of a few seconds), so callers can point users at local directories.
//!
//! The endpoint is configurable ([`Hub::with_endpoint`], `$HF_ENDPOINT`) so tests run against a
//! local server and never contact a real host.

mod cache;
mod download;
mod error;

pub use cache::{default_home, ModelSpec, BLIP_BASE, CLIP_B32};
pub use download::{FileProgress, Hub};
pub use error::HubError;
