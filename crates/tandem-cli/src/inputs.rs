//! Turning command-line inputs (files, folders, globs, `@list` files, URLs) into the list of
//! images to process, each with a stable id.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// File extensions a folder or glob contributes. Explicitly named files are always tried,
/// whatever their extension, so a mistaken file shows up as a dead letter.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];

/// One image to process.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputRef {
    /// The key everything is joined on and resumed by: the path or URL as given.
    pub id: String,
    /// Where the bytes are.
    pub source: InputSource,
}

/// Where an input's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputSource {
    File(PathBuf),
    Url(String),
}

impl InputRef {
    /// The short name shown in the text output: the file name without its extension, as the
    /// reference notebook prints it.
    pub fn display_name(id: &str) -> String {
        let last = id
            .trim_end_matches('/')
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(id);
        let last = last.split(['?', '#']).next().unwrap_or(last);
        match last.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
            _ => last.to_string(),
        }
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What expanding the inputs found.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Images to process, in order, without duplicates.
    pub inputs: Vec<InputRef>,
    /// Files inside folders/globs skipped for not having an image extension.
    pub skipped_non_images: Vec<PathBuf>,
}

impl Expanded {
    fn push(&mut self, seen: &mut std::collections::HashSet<String>, input: InputRef) {
        if seen.insert(input.id.clone()) {
            self.inputs.push(input);
        }
    }
}

/// Expands `args`: a URL; `@FILE` (one path or URL per line, `#` comments); a folder (its
/// image files, sorted, not recursive); a glob (`photos/*.jpg`); or a file path. A path that
/// does not exist is kept, so it fails visibly as a dead letter rather than vanishing.
pub fn expand(args: &[String]) -> Result<Expanded, CliError> {
    let mut out = Expanded::default();
    let mut seen = std::collections::HashSet::new();
    for arg in args {
        if let Some(list) = arg.strip_prefix('@') {
            let text = std::fs::read_to_string(list).map_err(|e| CliError::io(list, e))?;
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                out.push(&mut seen, single(line));
            }
        } else if is_url(arg) {
            out.push(&mut seen, single(arg));
        } else if Path::new(arg).is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(arg)
                .map_err(|e| CliError::io(arg, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            files.sort();
            for f in files {
                if has_image_extension(&f) {
                    out.push(&mut seen, file_ref(f));
                } else {
                    out.skipped_non_images.push(f);
                }
            }
        } else if arg.contains(['*', '?', '[']) {
            let paths = glob::glob(arg).map_err(|e| CliError::Argument {
                option: "inputs",
                reason: format!("bad glob `{arg}`: {e}"),
            })?;
            let mut files: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                if has_image_extension(&f) {
                    out.push(&mut seen, file_ref(f));
                } else {
                    out.skipped_non_images.push(f);
                }
            }
        } else {
            out.push(&mut seen, single(arg));
        }
    }
    Ok(out)
}

fn single(s: &str) -> InputRef {
    if is_url(s) {
        InputRef {
            id: s.to_string(),
            source: InputSource::Url(s.to_string()),
        }
    } else {
        file_ref(PathBuf::from(s))
    }
}

fn file_ref(path: PathBuf) -> InputRef {
    InputRef {
        id: path.display().to_string(),
        source: InputSource::File(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_drops_folders_extension_and_query() {
        assert_eq!(
            InputRef::display_name("a/b/Paris-sunset.jpeg"),
            "Paris-sunset"
        );
        assert_eq!(
            InputRef::display_name("https://x.org/p/Wedges.png?raw=1"),
            "Wedges"
        );
        assert_eq!(InputRef::display_name("noext"), "noext");
        assert_eq!(InputRef::display_name(".hidden"), ".hidden");
    }

    #[test]
    fn missing_paths_are_kept_so_they_fail_visibly() {
        let e = expand(&[
            "does/not/exist.png".to_string(),
            "does/not/exist.png".to_string(),
        ])
        .unwrap();
        assert_eq!(e.inputs.len(), 1);
        assert_eq!(
            e.inputs[0].source,
            InputSource::File(PathBuf::from("does/not/exist.png"))
        );
    }
}
