//! Downloads into the Hugging Face cache with the `hf-hub` crate (its blocking ureq client):
//! the layout, the `.part` resume with HTTP `Range`, the file lock and the `refs`/`snapshots`
//! bookkeeping are `hf-hub`'s, so what lands on disk is what Python's `huggingface_hub` reads.
//!
//! On top of it we keep our integrity check: a blob named by a sha256 (every Git LFS file,
//! i.e. the weights: the hub's etag for them is the content's sha256) must hash to its name,
//! or it is deleted and the fetch refused. Small non-LFS files (configs, vocabularies) are
//! named by their git blob id, which is not a content hash we can check without git's header,
//! so they are taken as downloaded.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};
use sha2::{Digest, Sha256};

use crate::error::HubError;
use crate::hf_cache::{hub_endpoint, HfCache, RepoRevision};

/// Progress of one file: `(file name, bytes so far, total bytes if known)`.
pub type FileProgress<'a> = &'a mut dyn FnMut(&str, u64, Option<u64>);

/// A Hugging Face Hub client writing into a [`HfCache`].
#[derive(Clone, Debug)]
pub struct Hub {
    endpoint: String,
    cache: HfCache,
}

impl Hub {
    /// The hub at `endpoint` (`https://huggingface.co`, a mirror, or a test server),
    /// downloading into `cache`.
    pub fn new(endpoint: &str, cache: HfCache) -> Self {
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache,
        }
    }

    /// The hub `HF_ENDPOINT` names and the cache the environment names
    /// ([`HfCache::from_env`]).
    ///
    /// # Errors
    /// [`HubError::NoCacheDir`] as for [`HfCache::from_env`].
    pub fn from_env() -> Result<Self, HubError> {
        Ok(Hub::new(&hub_endpoint(), HfCache::from_env()?))
    }

    /// The cache this client writes into.
    pub fn cache(&self) -> &HfCache {
        &self.cache
    }

    /// Makes sure `files` of `rr` are in the cache, downloading the missing ones (resuming a
    /// `.part` left by an interrupted run), and returns the snapshot folder holding them all.
    ///
    /// # Errors
    /// [`HubError::Unreachable`] (no network), [`HubError::Status`] (404: no such repository,
    /// revision or file; 401/403: gated or private), [`HubError::ChecksumMismatch`] (the blob
    /// was deleted), [`HubError::Download`] for anything else `hf-hub` reports.
    pub fn fetch(
        &self,
        rr: &RepoRevision,
        files: &[&str],
        progress: FileProgress<'_>,
    ) -> Result<PathBuf, HubError> {
        let api = ApiBuilder::from_cache(hf_hub::Cache::new(self.cache.root().to_path_buf()))
            .with_endpoint(self.endpoint.clone())
            .with_progress(false)
            .build()
            .map_err(|e| self.error(rr, "", e))?;
        let repo = api.repo(Repo::with_revision(
            rr.repo.clone(),
            RepoType::Model,
            rr.revision.clone(),
        ));
        for file in self.cache.missing(rr, files) {
            tracing::info!(repo = %rr, file, cache = %self.cache.root().display(), "downloading");
            let adapter = ProgressAdapter {
                file: file.to_string(),
                total: None,
                done: 0,
                progress: &mut *progress,
            };
            let pointer = repo
                .download_with_progress(file, adapter)
                .map_err(|e| self.error(rr, file, e))?;
            verify_blob(&pointer, file)?;
        }
        self.cache
            .snapshot(rr, files)
            .ok_or_else(|| HubError::Incomplete {
                repo: rr.to_string(),
                cache: self.cache.root().to_path_buf(),
            })
    }

    fn error(&self, rr: &RepoRevision, file: &str, e: ApiError) -> HubError {
        let url = format!(
            "{}/{}/resolve/{}/{file}",
            self.endpoint, rr.repo, rr.revision
        );
        match e {
            ApiError::RequestError(e) => match *e {
                ureq::Error::Status(status, _) => HubError::Status {
                    url,
                    status,
                    hint: match status {
                        401 | 403 => " (the repository may be gated or private)".to_string(),
                        404 => " (no such repository, revision or file)".to_string(),
                        _ => String::new(),
                    },
                },
                ureq::Error::Transport(t) => HubError::Unreachable {
                    url,
                    reason: t.to_string(),
                },
            },
            ApiError::TooManyRetries(inner) => self.error(rr, file, *inner),
            other => HubError::Download {
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// `hf_hub`'s progress callbacks as our `(file, done, total)` ones.
struct ProgressAdapter<'a, 'p> {
    file: String,
    total: Option<u64>,
    done: u64,
    progress: &'a mut (dyn FnMut(&str, u64, Option<u64>) + 'p),
}

impl hf_hub::api::Progress for ProgressAdapter<'_, '_> {
    fn init(&mut self, size: usize, _filename: &str) {
        self.total = Some(size as u64);
        self.done = 0;
    }

    fn update(&mut self, size: usize) {
        self.done += size as u64;
        (self.progress)(&self.file, self.done, self.total);
    }

    fn finish(&mut self) {}
}

/// Checks the blob behind a snapshot entry against its name when that name is a sha256;
/// deletes blob and entry on a mismatch.
fn verify_blob(pointer: &Path, file: &str) -> Result<(), HubError> {
    let blob = std::fs::canonicalize(pointer).map_err(|e| HubError::io(pointer, e))?;
    let Some(expected) = blob
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_sha256(n))
        .map(str::to_ascii_lowercase)
    else {
        return Ok(());
    };
    let actual = sha256_file(&blob)?;
    if actual != expected {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(pointer);
        return Err(HubError::ChecksumMismatch {
            file: file.to_string(),
            expected,
            actual,
        });
    }
    tracing::debug!(file, sha256 = %actual, "verified");
    Ok(())
}

fn is_sha256(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Hex sha256 of a file's content.
pub(crate) fn sha256_file(path: &Path) -> Result<String, HubError> {
    let mut f = File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
