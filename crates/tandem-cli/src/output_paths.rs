//! Checks on the output files before a run starts, so a mistake costs nothing: a missing
//! folder is reported before the models load, not after the last image; `--errors` or
//! `--html` naming the `--out` file (which would overwrite every earlier result) is refused.

use std::path::{Path, PathBuf};

use crate::cli::Common;
use crate::error::CliError;

/// Checks `--out`, `--errors` and `--html`: each one's folder exists, none is a folder, and
/// no two name the same file (compared after resolving `.`, `..` and symbolic links).
///
/// # Errors
/// [`CliError::Argument`] naming the flag and the problem.
pub fn check(c: &Common) -> Result<(), CliError> {
    let named: Vec<(&'static str, &PathBuf)> = [
        ("--out", c.out.as_ref()),
        ("--errors", c.errors.as_ref()),
        ("--html", c.html.as_ref()),
    ]
    .into_iter()
    .filter_map(|(flag, p)| p.map(|p| (flag, p)))
    .collect();
    let mut identities = Vec::with_capacity(named.len());
    for (flag, path) in &named {
        identities.push((*flag, *path, identity(flag, path)?));
    }
    for (i, (flag_a, path_a, id_a)) in identities.iter().enumerate() {
        for (flag_b, path_b, id_b) in &identities[i + 1..] {
            if id_a == id_b {
                return Err(CliError::Argument {
                    option: flag_b,
                    reason: format!(
                        "{} is the same file as {flag_a} {}; each output needs a file of its own",
                        path_b.display(),
                        path_a.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The absolute, symlink-free path `path` names, checking that its folder exists and that it
/// is not itself a folder.
fn identity(flag: &'static str, path: &Path) -> Result<PathBuf, CliError> {
    let bad = |reason: String| CliError::Argument {
        option: flag,
        reason,
    };
    if path.is_dir() {
        return Err(bad(format!("{} is a folder, not a file", path.display())));
    }
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| bad(format!("{} does not name a file", path.display())))?;
    match std::fs::canonicalize(parent) {
        Ok(dir) if dir.is_dir() => Ok(dir.join(name)),
        Ok(_) => Err(bad(format!("{} is not a folder", parent.display()))),
        Err(e) => Err(bad(format!(
            "the folder {} does not exist or cannot be reached ({e})",
            parent.display()
        ))),
    }
}
