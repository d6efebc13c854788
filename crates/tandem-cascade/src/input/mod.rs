//! [`InputRef`]: one image to process, keyed by the path or URL as given, and where its bytes
//! are. The cascade reads it (`crate::images::load`) and keys every record by its `id`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod key;

pub use key::{os_from_bytes, os_key, path_from_key, path_key, unescape_key};

/// One image to process.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputRef {
    /// The key everything is joined on and resumed by: the path or URL as given (see
    /// [`path_key`] for names that are not UTF-8).
    pub id: String,
    /// Where the bytes are.
    pub source: InputSource,
}

/// Where an input's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputSource {
    /// A local file (any bytes in its name: the wire form keeps them).
    File(#[serde(with = "key::serde_path")] PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
    /// An input known to be unusable before it is read: it becomes a dead letter with this
    /// reason at the read step, like any unreadable input.
    Refused(String),
}

/// File extensions [`folder`] picks up (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];

impl InputRef {
    /// A local file, keyed by its path as given ([`path_key`]: lossless for any name).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        InputRef {
            id: path_key(&path),
            source: InputSource::File(path),
        }
    }

    /// An `http(s)://` URL, keyed by itself.
    pub fn url(url: impl Into<String>) -> Self {
        let url = url.into();
        InputRef {
            id: url.clone(),
            source: InputSource::Url(url),
        }
    }

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

/// The image files directly inside `dir` (by [`IMAGE_EXTENSIONS`]), sorted by path: the input
/// list of a program that captions a folder. (The `tandem` CLI adds globs, `@list` files and
/// stdin on top.)
///
/// # Errors
/// The I/O error of reading `dir` or one of its entries.
pub fn folder(dir: impl AsRef<Path>) -> std::io::Result<Vec<InputRef>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_image && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths.into_iter().map(InputRef::file).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_lists_images_sorted_and_skips_the_rest() {
        let dir =
            std::env::temp_dir().join(format!("tandem-cascade-folder-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.png")).unwrap();
        for name in ["b.JPG", "a.png", "notes.txt"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let got: Vec<String> = folder(&dir)
            .unwrap()
            .into_iter()
            .map(|i| InputRef::display_name(&i.id))
            .collect();
        assert_eq!(got, ["a", "b"]);
        assert!(folder(dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
    fn constructors_key_by_what_was_given() {
        assert_eq!(InputRef::file("x/y.png").id, "x/y.png");
        let u = InputRef::url("https://e.org/a.jpg");
        assert_eq!(u.source, InputSource::Url("https://e.org/a.jpg".into()));
    }
}
