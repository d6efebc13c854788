//! Which files make up the default models, and the folder where Tandem kept checkpoints
//! before it used the Hugging Face cache (still read, so earlier downloads are not lost).

use std::path::PathBuf;

use crate::error::HubError;

/// A hub repository and the files a Tandem model loader reads from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// `owner/name` on the hub.
    pub repo: &'static str,
    /// Git revision (branch, tag or commit).
    pub revision: &'static str,
    /// The checkpoint's files.
    pub files: &'static [&'static str],
    /// Files of `files` the loaders do without (the slow tokenizer's vocabulary, which
    /// `tokenizer.json` already holds): not required in the cache, not downloaded.
    pub optional: &'static [&'static str],
}

/// `Salesforce/blip-image-captioning-base`: BLIP captioner (ViT-B/16, BERT decoder).
pub const BLIP_BASE: ModelSpec = ModelSpec {
    repo: "Salesforce/blip-image-captioning-base",
    revision: "main",
    files: &[
        "config.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "model.safetensors",
    ],
    optional: &[],
};

/// `openai/clip-vit-base-patch32`: CLIP ViT-B/32.
pub const CLIP_B32: ModelSpec = ModelSpec {
    repo: "openai/clip-vit-base-patch32",
    revision: "main",
    files: &[
        "config.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
        "model.safetensors",
    ],
    optional: &["vocab.json", "merges.txt"],
};

impl ModelSpec {
    /// The files a loader reads: [`Self::files`] without [`Self::optional`].
    pub fn required(&self) -> Vec<&'static str> {
        self.files
            .iter()
            .copied()
            .filter(|f| !self.optional.contains(f))
            .collect()
    }

    /// The repository at the spec's revision.
    pub fn repo_revision(&self) -> crate::RepoRevision {
        crate::RepoRevision {
            repo: self.repo.to_string(),
            revision: self.revision.to_string(),
        }
    }

    /// The legacy checkpoint directory of this model under `home`:
    /// `home/models/<owner>--<name>` (where `cargo xtask fetch-weights` used to put it).
    pub fn dir_in(&self, home: &std::path::Path) -> PathBuf {
        home.join("models").join(self.repo.replace('/', "--"))
    }

    /// True when every required file is present in `dir` (a completed earlier fetch).
    pub fn is_complete_in(&self, dir: &std::path::Path) -> bool {
        self.required().iter().all(|f| dir.join(f).is_file())
    }
}

/// `$TANDEM_HOME`, else `<user cache dir>/tandem`: the legacy home of checkpoints.
pub fn default_home() -> Result<PathBuf, HubError> {
    if let Some(home) = std::env::var_os("TANDEM_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    dirs::cache_dir()
        .map(|d| d.join("tandem"))
        .ok_or(HubError::NoCacheDir)
}
