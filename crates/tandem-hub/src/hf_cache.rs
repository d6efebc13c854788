//! The Hugging Face cache, laid out and located exactly as Python's `huggingface_hub` does it,
//! so Tandem and transformers share one copy of every checkpoint:
//!
//! ```text
//! $HF_HUB_CACHE (default $HF_HOME/hub, $HF_HOME default $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)
//! └── models--Salesforce--blip-image-captioning-base/
//!     ├── refs/main                      the commit hash the branch pointed to when fetched
//!     ├── blobs/<sha256 or git blob id>   file contents, named by their hub etag
//!     └── snapshots/<commit>/config.json  symlinks into blobs/, one folder per commit
//! ```
//!
//! Environment variables honoured, with `huggingface_hub`'s meanings: `HF_HUB_CACHE`,
//! `HF_HOME`, `XDG_CACHE_HOME`, `HF_HUB_OFFLINE` (`1`/`ON`/`YES`/`TRUE`: never contact the
//! hub) and `HF_ENDPOINT` (another hub or a mirror).

use std::path::{Path, PathBuf};

use crate::error::HubError;

/// The default hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A model repository on the hub and a revision (branch, tag or commit hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoRevision {
    /// `owner/name`.
    pub repo: String,
    /// `main` unless given.
    pub revision: String,
}

impl RepoRevision {
    /// Parses `owner/name` or `owner/name@revision`, the form `--blip-model` takes.
    ///
    /// # Errors
    /// [`HubError::BadRepoId`] unless there is exactly one `/` between a non-empty owner and
    /// name made of letters, digits, `-`, `_` and `.` (the hub's rule), and the revision, when
    /// given, is not empty.
    pub fn parse(id: &str) -> Result<Self, HubError> {
        let bad = |reason: &str| HubError::BadRepoId {
            id: id.to_string(),
            reason: reason.to_string(),
        };
        let (repo, revision) = match id.split_once('@') {
            Some((_, "")) => return Err(bad("the revision after `@` is empty")),
            Some((repo, revision)) => (repo, revision),
            None => (id, "main"),
        };
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(bad("expected OWNER/NAME"));
        };
        let valid = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid(owner) || !valid(name) {
            return Err(bad(
                "OWNER and NAME may hold only letters, digits, `-`, `_` and `.`",
            ));
        }
        Ok(RepoRevision {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl std::fmt::Display for RepoRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.repo, self.revision)
    }
}

/// True when `HF_HUB_OFFLINE` says not to contact the hub.
pub fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| is_truthy(&v))
}

fn is_truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

/// `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`], without a trailing `/`.
pub fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A Hugging Face hub cache folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HfCache {
    root: PathBuf,
}

impl HfCache {
    /// The cache at `root` (the folder holding `models--*`), made absolute.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        HfCache { root }
    }

    /// The cache `huggingface_hub` would use: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
    /// `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    ///
    /// # Errors
    /// [`HubError::NoCacheDir`] when none is set and there is no home directory.
    pub fn from_env() -> Result<Self, HubError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = if let Some(dir) = var("HF_HUB_CACHE") {
            PathBuf::from(dir)
        } else if let Some(home) = var("HF_HOME") {
            PathBuf::from(home).join("hub")
        } else if let Some(xdg) = var("XDG_CACHE_HOME") {
            PathBuf::from(xdg).join("huggingface").join("hub")
        } else {
            dirs::home_dir()
                .ok_or(HubError::NoCacheDir)?
                .join(".cache")
                .join("huggingface")
                .join("hub")
        };
        Ok(HfCache::new(root))
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--owner--name`: the repository's folder.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The commit `revision` stands for in the cache: `refs/<revision>` when the branch or tag
    /// was fetched, else the revision itself when it is a commit hash with a snapshot.
    pub fn commit(&self, rr: &RepoRevision) -> Option<String> {
        let dir = self.repo_dir(&rr.repo);
        if let Ok(commit) = std::fs::read_to_string(dir.join("refs").join(&rr.revision)) {
            let commit = commit.trim();
            if !commit.is_empty() {
                return Some(commit.to_string());
            }
        }
        let is_hash = rr.revision.len() == 40 && rr.revision.bytes().all(|b| b.is_ascii_hexdigit());
        (is_hash && dir.join("snapshots").join(&rr.revision).is_dir()).then(|| rr.revision.clone())
    }

    /// The snapshot folder of `rr` when every one of `files` is in it (symlinks followed),
    /// i.e. a checkpoint folder a loader can read as is.
    pub fn snapshot(&self, rr: &RepoRevision, files: &[&str]) -> Option<PathBuf> {
        let commit = self.commit(rr)?;
        let dir = self.repo_dir(&rr.repo).join("snapshots").join(commit);
        files.iter().all(|f| dir.join(f).is_file()).then_some(dir)
    }

    /// The files of `files` missing from `rr`'s snapshot (all of them when it has none).
    pub fn missing<'f>(&self, rr: &RepoRevision, files: &[&'f str]) -> Vec<&'f str> {
        let dir = self
            .commit(rr)
            .map(|c| self.repo_dir(&rr.repo).join("snapshots").join(c));
        files
            .iter()
            .copied()
            .filter(|f| !dir.as_ref().is_some_and(|d| d.join(f).is_file()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_ids_with_and_without_revision() {
        let rr = RepoRevision::parse("Salesforce/blip-image-captioning-base").unwrap();
        assert_eq!(rr.repo, "Salesforce/blip-image-captioning-base");
        assert_eq!(rr.revision, "main");
        let rr = RepoRevision::parse("openai/clip-vit-base-patch32@v1.0").unwrap();
        assert_eq!(
            (rr.repo.as_str(), rr.revision.as_str()),
            ("openai/clip-vit-base-patch32", "v1.0")
        );
        for bad in [
            "noslash", "a/b/c", "/name", "owner/", "a/b@", "../x", "a b/c",
        ] {
            let err = RepoRevision::parse(bad).unwrap_err();
            assert!(matches!(err, HubError::BadRepoId { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn offline_values_follow_huggingface_hub() {
        for v in ["1", "on", "YES", "true", " True "] {
            assert!(is_truthy(v), "{v}");
        }
        for v in ["0", "", "off", "no", "false", "2"] {
            assert!(!is_truthy(v), "{v}");
        }
    }
}
