//! Model checkpoints from the Hugging Face Hub, kept in the Hugging Face cache
//! (`~/.cache/huggingface/hub`, honouring `HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE` and
//! `HF_ENDPOINT`) so that Tandem and Python's `transformers` share one copy of each model.
//!
//! - **Finding**: [`HfCache::snapshot`] resolves `refs/<revision>` to a commit and returns the
//!   `snapshots/<commit>` folder when it holds every file a loader reads.
//! - **Downloading** ([`Hub::fetch`]): with the `hf-hub` crate's blocking client, into the same
//!   layout; an interrupted download is resumed from its `.part` file with an HTTP `Range`.
//! - **Verification**: a blob named by a sha256 (the weights: Git LFS files, whose hub etag is
//!   the content's sha256) must hash to its name, or it is deleted and the fetch refused.
//! - **Offline**: an unreachable hub is [`HubError::Unreachable`] and `HF_HUB_OFFLINE` is
//!   [`HubError::Offline`] (see [`HubError::is_offline`]), so callers can point users at local
//!   folders.
//!
//! The endpoint is configurable ([`Hub::new`], `$HF_ENDPOINT`) so tests run against a local
//! server and never contact a real host.

mod cache;
mod download;
mod error;
mod hf_cache;

pub use cache::{default_home, ModelSpec, BLIP_BASE, CLIP_B32};
pub use download::{FileProgress, Hub};
pub use error::HubError;
pub use hf_cache::{hub_endpoint, hub_offline, HfCache, RepoRevision, DEFAULT_ENDPOINT};
