//! Line-oriented sources: text lines and JSON Lines from files, and lines from stdin.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::element::Elem;
use crate::error::Error;
use crate::io::glob::glob;
use crate::io::source::{ElementIter, Source};

/// `(path, 1-based line number, line)` for every line of every file, read lazily.
fn lines_of(
    paths: Vec<PathBuf>,
) -> impl Iterator<Item = Result<(PathBuf, usize, String), Error>> + Send {
    paths.into_iter().flat_map(|path| {
        let opened = File::open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        });
        let lines: Box<dyn Iterator<Item = Result<(PathBuf, usize, String), Error>> + Send> =
            match opened {
                Err(e) => Box::new(std::iter::once(Err(e))),
                Ok(file) => {
                    let p = path.clone();
                    Box::new(
                        BufReader::new(file)
                            .lines()
                            .enumerate()
                            .map(move |(i, line)| {
                                line.map(|l| (p.clone(), i + 1, l))
                                    .map_err(|source| Error::Io {
                                        path: p.clone(),
                                        source,
                                    })
                            }),
                    )
                }
            };
        lines
    })
}

fn matched(pattern: String) -> Result<Vec<PathBuf>, Error> {
    let paths = glob(&pattern)?;
    if paths.is_empty() {
        return Err(Error::NoMatch { pattern });
    }
    Ok(paths)
}

/// Text lines of the files matching a glob (without line endings), or of stdin.
#[derive(Clone, Debug)]
pub struct ReadLines {
    from: LinesFrom,
}

#[derive(Clone, Debug)]
enum LinesFrom {
    Glob(String),
    Stdin,
}

impl ReadLines {
    /// Lines of every file matching `pattern`, file by file in sorted order. Bounded.
    pub fn from_glob(pattern: impl Into<String>) -> Self {
        Self {
            from: LinesFrom::Glob(pattern.into()),
        }
    }

    /// Lines of standard input until it closes. Unbounded: grouping needs a window.
    pub fn stdin() -> Self {
        Self {
            from: LinesFrom::Stdin,
        }
    }
}

impl Source for ReadLines {
    type Item = String;
    fn default_name(&self) -> String {
        match &self.from {
            LinesFrom::Glob(p) => format!("ReadLines({p})"),
            LinesFrom::Stdin => String::from("ReadStdin"),
        }
    }
    fn is_bounded(&self) -> bool {
        matches!(self.from, LinesFrom::Glob(_))
    }
    fn open(self) -> Result<ElementIter<String>, Error> {
        match self.from {
            LinesFrom::Glob(pattern) => Ok(Box::new(
                lines_of(matched(pattern)?).map(|r| r.map(|(_, _, l)| l)),
            )),
            LinesFrom::Stdin => {
                // `Stdin` is `Send`, its lock is not: take the lock per line.
                let stdin = std::io::stdin();
                Ok(Box::new(std::iter::from_fn(move || {
                    let mut line = String::new();
                    match stdin.read_line(&mut line) {
                        Ok(0) => None,
                        Ok(_) => {
                            let trimmed = line.trim_end_matches(['\n', '\r']).len();
                            line.truncate(trimmed);
                            Some(Ok(line))
                        }
                        Err(source) => Some(Err(Error::Io {
                            path: PathBuf::from("<stdin>"),
                            source,
                        })),
                    }
                })))
            }
        }
    }
}

/// One `T` per non-blank line of the JSON Lines files matching a glob. A malformed line fails
/// the run with the file and line number.
pub struct ReadJsonLines<T> {
    pattern: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> ReadJsonLines<T> {
    /// Records from every file matching `pattern`.
    pub fn from_glob(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            _t: PhantomData,
        }
    }
}

impl<T: Elem + DeserializeOwned> Source for ReadJsonLines<T> {
    type Item = T;
    fn default_name(&self) -> String {
        format!("ReadJsonLines({})", self.pattern)
    }
    fn open(self) -> Result<ElementIter<T>, Error> {
        let lines = lines_of(matched(self.pattern)?);
        Ok(Box::new(lines.filter_map(|r| match r {
            Err(e) => Some(Err(e)),
            Ok((_, _, l)) if l.trim().is_empty() => None,
            Ok((path, line, l)) => {
                Some(serde_json::from_str(&l).map_err(|source| Error::Json { path, line, source }))
            }
        })))
    }
}
