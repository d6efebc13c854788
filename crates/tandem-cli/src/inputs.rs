//! Turning command-line inputs (files, folders, globs, `@list` files, URLs) into the list of
//! images to process, each with a stable id.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tandem_pipeline::io::ElementIter;
use tandem_pipeline::Source;

use crate::error::CliError;
pub use tandem_cascade::{InputRef, InputSource};

/// The input argument that reads paths and URLs from standard input as they arrive.
pub const STDIN: &str = "-";

/// File extensions a folder or glob contributes. Explicitly named files are always tried,
/// whatever their extension, so a mistaken file shows up as a dead letter.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];

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

/// What reading the inputs from stdin skipped, readable while and after the run goes.
#[derive(Clone, Debug, Default)]
pub struct StdinCounts {
    inner: Arc<Mutex<StdinTally>>,
}

#[derive(Debug, Default)]
struct StdinTally {
    read: usize,
    resumed: usize,
    duplicates: usize,
}

impl StdinCounts {
    /// `(inputs read, skipped because --out has them, repeated lines merged)`.
    pub fn get(&self) -> (usize, usize, usize) {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (t.read, t.resumed, t.duplicates)
    }

    fn count(&self, f: impl FnOnce(&mut StdinTally)) {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// `tandem caption -`: one path or URL per line of standard input, read as the lines arrive
/// (an unbounded source), so a producer that writes a path and waits sees its result before it
/// closes stdin. Lines are taken verbatim except for the line break; blank lines are ignored.
/// Inputs already in `--out` (`done`) and repeated lines are skipped and counted.
pub struct StdinInputs {
    done: HashSet<String>,
    counts: StdinCounts,
}

impl StdinInputs {
    /// Reads stdin, skipping the ids in `done`; tallies into `counts`.
    pub fn new(done: HashSet<String>, counts: StdinCounts) -> Self {
        StdinInputs { done, counts }
    }
}

impl Source for StdinInputs {
    type Item = InputRef;
    fn default_name(&self) -> String {
        String::from("ReadStdin")
    }
    fn is_bounded(&self) -> bool {
        false
    }
    fn open(self) -> Result<ElementIter<InputRef>, tandem_pipeline::Error> {
        let StdinInputs { done, counts } = self;
        let mut seen: HashSet<String> = HashSet::new();
        let stdin = std::io::stdin();
        Ok(Box::new(std::iter::from_fn(move || loop {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(tandem_pipeline::Error::Io {
                        path: PathBuf::from("<stdin>"),
                        source,
                    }))
                }
            }
            let id = line
                .strip_suffix('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .unwrap_or(&line);
            if id.trim().is_empty() {
                continue;
            }
            if done.contains(id) {
                counts.count(|t| t.resumed += 1);
                continue;
            }
            if !seen.insert(id.to_string()) {
                counts.count(|t| t.duplicates += 1);
                continue;
            }
            counts.count(|t| t.read += 1);
            return Some(Ok(single(id)));
        })))
    }
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
