//! Whole-file sources: `ReadFiles` (a glob) and `ReadImages` (a folder of images).
//!
//! Both yield `(path, bytes)` and read each file only when downstream asks for it, so memory
//! stays bounded whatever the folder size. Images are **not decoded** here: decoding belongs
//! to the model's preprocessing step.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::io::glob::glob;
use crate::io::source::{ElementIter, Source};

/// Extensions `ReadImages` picks up (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

fn read_lazily(paths: Vec<PathBuf>) -> ElementIter<(String, Vec<u8>)> {
    Box::new(paths.into_iter().map(|path| {
        std::fs::read(&path)
            .map(|bytes| (path.to_string_lossy().into_owned(), bytes))
            .map_err(|source| Error::Io { path, source })
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

impl Source for ReadFiles {
    type Item = (String, Vec<u8>);
    fn default_name(&self) -> String {
        format!("ReadFiles({})", self.pattern)
    }
    fn open(self) -> Result<ElementIter<Self::Item>, Error> {
        let paths = glob(&self.pattern)?;
        if paths.is_empty() {
            return Err(Error::NoMatch {
                pattern: self.pattern,
            });
        }
        Ok(read_lazily(paths))
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
        if !self.folder.is_dir() {
            return Err(Error::Io {
                path: self.folder.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        let pattern = self.folder.join("**").to_string_lossy().into_owned();
        let paths: Vec<PathBuf> = glob(&pattern)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        Ok(read_lazily(paths))
    }
}
