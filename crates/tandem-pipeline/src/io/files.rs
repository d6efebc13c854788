//! Whole-file sources: `ReadFiles` (a glob) and `ReadImages` (a folder of images).
//!
//! Both yield `(path, bytes)` and read each file only when downstream asks for it, so memory
//! stays bounded whatever the folder size. Images are **not decoded** here: decoding belongs
//! to the model's preprocessing step.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::io::glob::glob;
use crate::io::source::{positional, ElementIter, EventIter, Source};

/// Extensions `ReadImages` picks up (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

fn read_lazily(paths: Vec<PathBuf>) -> ElementIter<(String, Vec<u8>)> {
    Box::new(paths.into_iter().map(read_one))
}

fn read_one(path: PathBuf) -> Result<(String, Vec<u8>), Error> {
    std::fs::read(&path)
        .map(|bytes| (path.to_string_lossy().into_owned(), bytes))
        .map_err(|source| Error::Io { path, source })
}

/// Worker `worker`'s share of `paths` (by position), reading only those files.
fn split_lazily(paths: Vec<PathBuf>, worker: usize, peers: usize) -> EventIter<(String, Vec<u8>)> {
    // Positions are stamped on the path list, so other workers' files are never read.
    let shares = positional(Box::new(paths.into_iter().map(Ok)), worker, peers);
    Box::new(shares.map(|event| match event? {
        crate::SourceEvent::Element { value, timestamp } => Ok(crate::SourceEvent::Element {
            value: read_one(value)?,
            timestamp,
        }),
        crate::SourceEvent::Watermark(t) => Ok(crate::SourceEvent::Watermark(t)),
    }))
}

/// Every file matching a glob, as `(path, bytes)`, in sorted path order. A glob matching
/// nothing is an error (an empty run is more often a typo than intended).
#[derive(Clone, Debug)]
pub struct ReadFiles {
    pattern: String,
}

impl ReadFiles {
    /// Files matching `pattern` (see [`crate::io`] for the glob syntax).
    pub fn glob(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
        }
    }
}

impl ReadFiles {
    fn paths(&self) -> Result<Vec<PathBuf>, Error> {
        let paths = glob(&self.pattern)?;
        if paths.is_empty() {
            return Err(Error::NoMatch {
                pattern: self.pattern.clone(),
            });
        }
        Ok(paths)
    }
}

impl Source for ReadFiles {
    type Item = (String, Vec<u8>);
    fn default_name(&self) -> String {
        format!("ReadFiles({})", self.pattern)
    }
    fn open(self) -> Result<ElementIter<Self::Item>, Error> {
        Ok(read_lazily(self.paths()?))
    }
    fn open_split(self, worker: usize, peers: usize) -> Result<EventIter<Self::Item>, Error> {
        Ok(split_lazily(self.paths()?, worker, peers))
    }
}

/// The image files in a folder (and its subfolders), as `(path, raw bytes)`, sorted by path.
#[derive(Clone, Debug)]
pub struct ReadImages {
    folder: PathBuf,
}

impl ReadImages {
    /// Images under `folder`, recognised by extension ([`IMAGE_EXTENSIONS`]).
    pub fn from_folder(folder: impl AsRef<Path>) -> Self {
        Self {
            folder: folder.as_ref().to_path_buf(),
        }
    }
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

impl Source for ReadImages {
    type Item = (String, Vec<u8>);
    fn default_name(&self) -> String {
        String::from("ReadImages")
    }
    fn open(self) -> Result<ElementIter<Self::Item>, Error> {
        Ok(read_lazily(self.paths()?))
    }
    fn open_split(self, worker: usize, peers: usize) -> Result<EventIter<Self::Item>, Error> {
        Ok(split_lazily(self.paths()?, worker, peers))
    }
}

impl ReadImages {
    fn paths(&self) -> Result<Vec<PathBuf>, Error> {
        if !self.folder.is_dir() {
            return Err(Error::Io {
                path: self.folder.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        let pattern = self.folder.join("**").to_string_lossy().into_owned();
        Ok(glob(&pattern)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect())
    }
}
