//! Turning command-line inputs (files, folders, globs, `@list` files, URLs) into the list of
//! images to process, each with a stable, lossless key.
//!
//! The contract: every input as written yields exactly one record, a result or a dead letter.
//! Nothing is dropped here except what is reported: files inside folders and globs without an
//! image extension (counted), and repeats of an input already listed (counted and merged).
//! Broken symbolic links, symlink loops, FIFOs and devices become inputs like any other, so
//! reading them fails visibly as a dead letter ([`crate::images::read_bytes`] refuses anything
//! that is not a regular file without opening it).

mod stdin;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::error::CliError;

pub use stdin::{StdinCounts, StdinInputs};
pub use tandem_cascade::input::{
    os_from_bytes, os_key, path_from_key, path_key, unescape_key, InputRef, InputSource,
};

/// The input argument that reads paths and URLs from standard input as they arrive.
pub const STDIN: &str = "-";

/// File extensions a folder or glob contributes. Explicitly named files are always tried,
/// whatever their extension, so a mistaken file shows up as a dead letter.
pub use tandem_cascade::input::IMAGE_EXTENSIONS;

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
    /// Inputs given more than once (same key and same file): merged into their first
    /// occurrence, so each gets one record.
    pub duplicates: usize,
    /// Where each key came from, to tell a repeat from a key clash.
    origin: HashMap<String, InputSource>,
}

impl Expanded {
    fn push(&mut self, input: InputRef) {
        match self.origin.get(&input.id) {
            None => {
                self.origin.insert(input.id.clone(), input.source.clone());
                self.inputs.push(input);
            }
            Some(first) if *first == input.source => self.duplicates += 1,
            // Two different files with one key (a UTF-8 name that spells another name's
            // escape): the later one fails visibly instead of overwriting the first's result.
            Some(first) => {
                let reason = format!(
                    "its key is the same as that of an earlier input ({}); rename one of them",
                    describe(first)
                );
                self.inputs.push(InputRef {
                    id: input.id,
                    source: InputSource::Refused(reason),
                });
            }
        }
    }

    /// A folder entry or glob match: an input if it has an image extension, else counted.
    fn push_listed(&mut self, path: PathBuf) {
        if has_image_extension(&path) {
            self.push(file_ref(path));
        } else {
            self.skipped_non_images.push(path);
        }
    }
}

fn describe(source: &InputSource) -> String {
    match source {
        InputSource::File(p) => format!("file {}", p.display()),
        InputSource::Url(u) => u.clone(),
        InputSource::Refused(r) => r.clone(),
    }
}

/// Expands `args`, in order:
/// - `@FILE`: one path or URL per line, taken verbatim (only the line break, `\n` or `\r\n`,
///   is removed; empty lines are skipped; names may be any bytes);
/// - a URL (`http://`, `https://`);
/// - a folder: its entries with an image extension, sorted, not recursive, hidden files
///   skipped — including broken symlinks and symlink loops, which fail as dead letters;
/// - a path that exists (even one containing `*`, `?` or `[`): taken literally;
/// - a glob (`photos/*.jpg`), expanded like a folder (one that matches nothing is an input
///   that fails, so a mistyped pattern is reported, not dropped);
/// - anything else: kept as a path, so a missing file fails visibly as a dead letter.
///
/// # Errors
/// [`CliError::Io`] if an `@FILE` or a folder cannot be read; [`CliError::Argument`] for a
/// malformed glob.
pub fn expand<S: AsRef<OsStr>>(args: &[S]) -> Result<Expanded, CliError> {
    let mut out = Expanded::default();
    for arg in args {
        let arg = arg.as_ref();
        let text = arg.to_str();
        if let Some(list) = arg.as_encoded_bytes().strip_prefix(b"@") {
            let list = PathBuf::from(os_from_bytes(list.to_vec()));
            let bytes = std::fs::read(&list).map_err(|e| CliError::io(&list, e))?;
            for line in list_lines(&bytes) {
                out.push(single(&os_from_bytes(line.to_vec())));
            }
        } else if text.is_some_and(is_url) {
            out.push(single(arg));
        } else if Path::new(arg).is_dir() {
            for path in folder_entries(Path::new(arg))? {
                out.push_listed(path);
            }
        } else if std::fs::symlink_metadata(arg).is_ok() {
            out.push(single(arg));
        } else if let Some(pattern) = text.filter(|t| t.contains(['*', '?', '['])) {
            let matches = glob_matches(pattern)?;
            if matches.is_empty() {
                // A mistyped pattern must not vanish: it is an input that failed.
                out.push(InputRef {
                    id: pattern.to_string(),
                    source: InputSource::Refused(String::from(
                        "no file exists by this name and, as a glob, it matches no file",
                    )),
                });
            }
            for path in matches {
                out.push_listed(path);
            }
        } else {
            out.push(single(arg));
        }
    }
    Ok(out)
}

/// The lines of an `@list` file: split on `\n`, one trailing `\r` removed, empty lines skipped.
pub fn list_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// Whether a folder entry or glob match can be an image file: anything but a folder or a
/// symlink to one. A dangling link or a loop counts (it fails visibly when read).
fn listable(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => !meta.is_dir(),
        Err(_) => true,
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
}

/// The entries of `dir` that can be image files, sorted by name (bytes).
fn folder_entries(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| CliError::io(dir, e))? {
        let entry = entry.map_err(|e| CliError::io(dir, e))?;
        let path = entry.path();
        if !is_hidden(&path) && listable(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The matches of a glob that can be image files, sorted. Entries the walk could not read
/// are kept, so they fail visibly as dead letters.
fn glob_matches(pattern: &str) -> Result<Vec<PathBuf>, CliError> {
    let paths = glob::glob(pattern).map_err(|e| CliError::Argument {
        option: "inputs",
        reason: format!("bad glob `{pattern}`: {e}"),
    })?;
    let mut files: Vec<PathBuf> = paths
        .map(|p| p.unwrap_or_else(|e| e.path().to_path_buf()))
        .filter(|p| listable(p))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// One input as written: a URL or a path.
pub fn single(s: &OsStr) -> InputRef {
    match s.to_str() {
        Some(url) if is_url(url) => InputRef {
            id: url.to_string(),
            source: InputSource::Url(url.to_string()),
        },
        _ => file_ref(PathBuf::from(OsString::from(s))),
    }
}

fn file_ref(path: PathBuf) -> InputRef {
    InputRef::file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_are_kept_so_they_fail_visibly_and_repeats_are_counted() {
        let e = expand(&["does/not/exist.png", "does/not/exist.png"]).unwrap();
        assert_eq!(e.inputs.len(), 1);
        assert_eq!(e.duplicates, 1);
        assert_eq!(
            e.inputs[0].source,
            InputSource::File(PathBuf::from("does/not/exist.png"))
        );
    }

    #[test]
    fn a_glob_that_matches_nothing_is_a_failed_input() {
        let e = expand(&["/no/such/folder/*.png", "/no/such/folder/*.png"]).unwrap();
        assert_eq!(e.inputs.len(), 1);
        assert_eq!(e.duplicates, 1);
        assert_eq!(e.inputs[0].id, "/no/such/folder/*.png");
        assert!(
            matches!(&e.inputs[0].source, InputSource::Refused(r) if r.contains("matches no file"))
        );
    }

    #[test]
    fn list_lines_are_verbatim() {
        let lines: Vec<&[u8]> =
            list_lines(b"a.jpg\r\n # b.jpg\n\n  c d.jpg  \n#e.jpg\nlast").collect();
        assert_eq!(
            lines,
            [
                &b"a.jpg"[..],
                b" # b.jpg",
                b"  c d.jpg  ",
                b"#e.jpg",
                b"last"
            ]
        );
    }
}
