//! Which checkpoint directories a command uses: `--blip-model` / `--clip-model` given as a
//! folder, or as a Hugging Face Hub id `owner/name[@revision]`, or the default model; a hub
//! model is taken from the Hugging Face cache (where transformers also keeps it) and
//! downloaded into it on first use unless `HF_HUB_OFFLINE` is set.

use std::path::{Path, PathBuf};

use tandem_hub::{HfCache, Hub, HubError, ModelSpec, RepoRevision};

use crate::error::CliError;

/// Checks that `dir` looks like a checkpoint directory.
pub fn check_dir(dir: &Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::Model {
            dir: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    if !dir.join("config.json").is_file() {
        return Err(CliError::Model {
            dir: dir.to_path_buf(),
            reason: "no config.json (expected a Hugging Face checkpoint directory)".into(),
        });
    }
    Ok(())
}

/// The checkpoint folder for `given` (a folder or a hub id; `None`: `spec`'s model), which
/// must hold `spec`'s required files when it comes from the hub.
///
/// Order: an existing folder as given; the Hugging Face cache; for the default model, the
/// folder earlier Tandem versions downloaded to (`$TANDEM_HOME/models/owner--name`); else a
/// download into the Hugging Face cache (progress bar on stderr), refused when
/// `HF_HUB_OFFLINE` is set.
///
/// # Errors
/// [`CliError::Model`] for a folder without `config.json` or a value that is neither a folder
/// nor a hub id; [`CliError::WeightsUnavailable`] when the model is not cached and cannot be
/// downloaded.
pub fn resolve(
    given: Option<&str>,
    spec: &ModelSpec,
    flag: &'static str,
) -> Result<PathBuf, CliError> {
    let rr = match given {
        Some(g) if Path::new(g).exists() => {
            check_dir(Path::new(g))?;
            return Ok(PathBuf::from(g));
        }
        Some(g) => RepoRevision::parse(g).map_err(|e| CliError::Model {
            dir: PathBuf::from(g),
            reason: format!("no such directory, and not a hub id either: {e}"),
        })?,
        None => spec.repo_revision(),
    };
    let unavailable = |dir: PathBuf, e: HubError| CliError::WeightsUnavailable {
        model: rr.to_string(),
        dir,
        reason: e.to_string(),
        flag,
    };
    let required = spec.required();
    let cache = HfCache::from_env().map_err(|e| unavailable(PathBuf::from("$HF_HOME"), e))?;
    if let Some(dir) = cache.snapshot(&rr, &required) {
        tracing::debug!(model = %rr, dir = %dir.display(), "found in the Hugging Face cache");
        check_dir(&dir)?;
        return Ok(dir);
    }
    if given.is_none() {
        if let Ok(home) = tandem_hub::default_home() {
            let legacy = spec.dir_in(&home);
            if spec.is_complete_in(&legacy) {
                tracing::debug!(model = %rr, dir = %legacy.display(), "found in $TANDEM_HOME");
                return Ok(legacy);
            }
        }
    }
    if tandem_hub::hub_offline() {
        let e = HubError::Offline {
            repo: rr.to_string(),
            cache: cache.root().to_path_buf(),
        };
        return Err(unavailable(cache.root().to_path_buf(), e));
    }
    tracing::info!(
        "fetching {rr} into the Hugging Face cache {} (first use)",
        cache.root().display()
    );
    let bar = crate::progress::bar(Some(0), true);
    let mut last = String::new();
    let mut progress = |file: &str, done: u64, total: Option<u64>| {
        if file != last {
            last = file.to_string();
            bar.set_position(0);
            bar.set_length(total.unwrap_or(0));
            bar.set_message(file.to_string());
        }
        bar.set_position(done);
    };
    let hub = Hub::new(&tandem_hub::hub_endpoint(), cache.clone());
    let result = hub.fetch(&rr, &required, &mut progress);
    bar.finish_and_clear();
    let dir = result.map_err(|e| unavailable(cache.root().to_path_buf(), e))?;
    check_dir(&dir)?;
    Ok(dir)
}
