//! Which checkpoint directories a command uses: the one given with `--blip-model` /
//! `--clip-model`, else the default model from the cache, fetched on first use.

use std::path::{Path, PathBuf};

use tandem_hub::{Hub, ModelSpec};

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

/// `given`, or `spec` in the cache (downloading what is missing, with progress on stderr).
pub fn resolve(
    given: Option<&Path>,
    spec: &ModelSpec,
    flag: &'static str,
) -> Result<PathBuf, CliError> {
    if let Some(dir) = given {
        check_dir(dir)?;
        return Ok(dir.to_path_buf());
    }
    let unavailable = |dir: PathBuf, reason: String| CliError::WeightsUnavailable {
        model: spec.repo.to_string(),
        dir,
        reason,
        flag,
    };
    let home = tandem_hub::default_home()
        .map_err(|e| unavailable(PathBuf::from("$TANDEM_HOME"), e.to_string()))?;
    let dir = spec.dir_in(&home);
    if spec.is_complete_in(&dir) {
        return Ok(dir);
    }
    eprintln!("fetching {} into {} (first use)", spec.repo, dir.display());
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
    let result = Hub::default().fetch_model(spec, &dir, &mut progress);
    bar.finish_and_clear();
    result.map_err(|e| unavailable(dir.clone(), e.to_string()))?;
    Ok(dir)
}
