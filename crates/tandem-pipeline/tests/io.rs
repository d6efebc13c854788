//! Sources and sinks on real files.

mod common;

use common::{sorted, TempDir};
use serde::{Deserialize, Serialize};
use tandem_pipeline::{
    Error, Pipeline, ReadFiles, ReadImages, ReadJsonLines, ReadLines, WriteJsonLines,
};

#[test]
fn read_images_yields_raw_bytes_of_image_files_only() {
    let dir = TempDir::new("images");
    std::fs::create_dir_all(dir.path("sub")).unwrap();
    std::fs::write(dir.path("a.png"), [1u8, 2, 3]).unwrap();
    std::fs::write(dir.path("b.JPEG"), [4u8]).unwrap();
    std::fs::write(dir.path("sub/c.webp"), [5u8, 6]).unwrap();
    std::fs::write(dir.path("readme.txt"), b"no").unwrap();
    let p = Pipeline::new();
    let got = p.read(ReadImages::from_folder(&dir.0)).collect("Out");
    p.run().unwrap();
    let got: Vec<(String, Vec<u8>)> = sorted(
        got.take()
            .into_iter()
            .map(|(path, bytes)| {
                (
                    path.strip_prefix(&*dir.0.to_string_lossy())
                        .unwrap_or(&path)
                        .to_string(),
                    bytes,
                )
            })
            .collect(),
    );
    assert_eq!(
        got,
        vec![
            ("/a.png".to_string(), vec![1, 2, 3]),
            ("/b.JPEG".to_string(), vec![4]),
            ("/sub/c.webp".to_string(), vec![5, 6]),
        ]
    );
}

#[test]
fn missing_folder_and_empty_globs_are_errors() {
    let dir = TempDir::new("missing");
    let p = Pipeline::new();
    p.read(ReadImages::from_folder(dir.path("nope")))
        .collect("Out");
    assert!(matches!(p.run(), Err(Error::Io { path, .. }) if path.ends_with("nope")));

    let p = Pipeline::new();
    let pattern = dir.path("*.csv").to_string_lossy().into_owned();
    p.read(ReadFiles::glob(pattern.clone())).collect("Out");
    assert!(matches!(p.run(), Err(Error::NoMatch { pattern: got }) if got == pattern));
}

#[test]
fn glob_lines_and_recursive_patterns() {
    let dir = TempDir::new("lines");
    std::fs::create_dir_all(dir.path("x/y")).unwrap();
    std::fs::write(dir.path("one.txt"), "a\nb\n").unwrap();
    std::fs::write(dir.path("x/y/two.txt"), "c\r\nd").unwrap();
    std::fs::write(dir.path("x/skip.md"), "e\n").unwrap();
    let p = Pipeline::new();
    let deep = dir.path("**/*.txt").to_string_lossy().into_owned();
    let lines = p.read(ReadLines::from_glob(deep.clone())).collect("Lines");
    let files = p.read(ReadFiles::glob(deep)).keys("Paths").collect("Files");
    p.run().unwrap();
    assert_eq!(sorted(lines.take()), vec!["a", "b", "c", "d"]);
    let files: Vec<bool> = sorted(files.take())
        .iter()
        .map(|f| f.ends_with(".txt"))
        .collect();
    assert_eq!(files, vec![true, true]);
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Rec {
    id: u32,
    caption: String,
}

#[test]
fn json_lines_round_trip() {
    let dir = TempDir::new("jsonl");
    let recs: Vec<Rec> = (0..25)
        .map(|id| Rec {
            id,
            caption: format!("caption \"{id}\""),
        })
        .collect();
    let p = Pipeline::new();
    p.create(recs.clone())
        .write("Write", WriteJsonLines::to_path(dir.path("out.jsonl")));
    let report = p.run().unwrap();
    assert_eq!(report.step("Write").unwrap().written, 25);

    let p = Pipeline::new();
    let back = p
        .read(ReadJsonLines::<Rec>::from_glob(
            dir.path("*.jsonl").to_string_lossy().into_owned(),
        ))
        .collect("Back");
    p.run().unwrap();
    let mut back = back.take();
    back.sort_by_key(|r| r.id);
    assert_eq!(back, recs);
}
