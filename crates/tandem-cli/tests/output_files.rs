//! Output files never lose data (issue 12, section 3): resume survives a last line torn
//! anywhere, even inside a multi-byte character; `--out`, `--errors` and `--html` must be
//! different files; a `--out` that is not this tool's JSON Lines is refused before anything is
//! written to it; missing folders are reported before the run; two runs cannot append to the
//! same `--out`; a full disk is reported naming the file, concisely.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::{clip_tiny, jsonl, keys, plain_png, tandem, text};

/// Three copies of the fixture image in `dir`.
fn images(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            let p = dir.join(format!("img{i}.png"));
            std::fs::copy(plain_png(), &p).expect("copy the fixture image");
            p
        })
        .collect()
}

/// `tandem rank IMAGES --out OUT EXTRA…` with captions that have multi-byte characters.
fn rank(images: &[PathBuf], out: &Path, extra: &[OsString]) -> std::process::Output {
    let mut args: Vec<OsString> = vec!["rank".into()];
    args.extend(images.iter().map(|p| p.clone().into_os_string()));
    args.extend([
        "--clip-model".into(),
        clip_tiny().into_os_string(),
        "--out".into(),
        out.as_os_str().to_owned(),
        "-q".into(),
        "--no-progress".into(),
    ]);
    args.extend(extra.iter().cloned());
    args.extend(["--captions".into(), "un café ☕".into(), "ελιά".into()]);
    tandem(&args)
}

#[test]
fn resume_survives_a_line_torn_inside_a_multibyte_character() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    let first = rank(&imgs, &out, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let whole = std::fs::read(&out).unwrap();
    let lines: Vec<&[u8]> = whole.split_inclusive(|b| *b == b'\n').collect();
    assert_eq!(lines.len(), 3);
    let last = lines[2];
    // Cut the last record in the middle of a multi-byte character (☕ is 3 bytes).
    let coffee = last
        .windows(3)
        .position(|w| w == "☕".as_bytes())
        .expect("the record holds ☕");
    for cut in [coffee + 1, coffee + 2, last.len() - 2, 5] {
        let mut torn = lines[0].to_vec();
        torn.extend_from_slice(lines[1]);
        torn.extend_from_slice(&last[..cut]);
        std::fs::write(&out, &torn).unwrap();
        let rerun = rank(&imgs, &out, &[]);
        let stderr = text(&rerun.stderr);
        assert_eq!(rerun.status.code(), Some(0), "cut at {cut}: {stderr}");
        // Every line parses (jsonl() fails otherwise) and each image is there once.
        let records = jsonl(&out);
        let mut got = keys(&records);
        got.sort();
        let want: Vec<String> = imgs.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(got, want, "cut at {cut}");
        assert!(
            stderr.contains("done: 1 images") && stderr.contains("skipped (already in --out): 2"),
            "only the torn image is done again (cut at {cut}): {stderr}"
        );
        assert!(stderr.contains("torn last line"), "{stderr}");
    }
}

#[test]
fn a_complete_last_record_without_its_line_break_is_kept() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    assert_eq!(rank(&imgs[..2], &out, &[]).status.code(), Some(0));
    let mut bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.pop(), Some(b'\n'));
    std::fs::write(&out, &bytes).unwrap();
    let rerun = rank(&imgs, &out, &[]);
    let stderr = text(&rerun.stderr);
    assert_eq!(rerun.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("done: 1 images") && stderr.contains("(already in --out): 2"));
    assert_eq!(jsonl(&out).len(), 3);
}

#[test]
fn outputs_must_be_different_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    assert_eq!(rank(&imgs[..1], &out, &[]).status.code(), Some(0));
    let before = std::fs::read(&out).unwrap();
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let same_by_another_name = sub.join("..").join("out.jsonl");
    let link = tmp.path().join("link.jsonl");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    for (flag, path) in [
        ("--errors", out.clone()),
        ("--errors", same_by_another_name),
        ("--html", out.clone()),
        ("--html", link),
    ] {
        let run = rank(&imgs, &out, &[flag.into(), path.clone().into()]);
        let stderr = text(&run.stderr);
        assert_eq!(
            run.status.code(),
            Some(1),
            "{flag} {}: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains(flag) && stderr.contains("same file as --out"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), before, "--out untouched");
    }
    let errors = tmp.path().join("errors.jsonl");
    let run = rank(
        &imgs[..1],
        &out,
        &[
            "--errors".into(),
            errors.clone().into(),
            "--html".into(),
            errors.into(),
        ],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("--html"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn an_out_file_that_is_not_our_json_lines_is_refused_untouched() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let png = std::fs::read(plain_png()).unwrap();
    let cases: [(&str, Vec<u8>); 5] = [
        ("photo.png", png),
        ("scores.csv", b"image,score\na.png,0.5\n".to_vec()),
        ("notes.txt", b"my notes, no line break".to_vec()),
        ("other.jsonl", b"{\"id\": 1}\n{\"id\": 2}\n".to_vec()),
        (
            "ours-then-not.jsonl",
            b"{\"image\":\"a.png\",\"captions\":[],\"caption_model\":null,\"rank_model\":\"m\"}\nhello\n"
                .to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let out = tmp.path().join(name);
        std::fs::write(&out, &bytes).unwrap();
        let run = rank(&imgs, &out, &[]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("--out") && stderr.contains("not a tandem result record"),
            "{name}: {stderr}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), bytes, "{name} untouched");
    }
    let run = rank(&imgs, Path::new("/dev/null"), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("not a regular file"));
}

#[test]
fn missing_folders_are_reported_before_the_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    let missing = tmp.path().join("no-such-folder");
    for flag in ["--errors", "--html"] {
        let run = rank(&imgs, &out, &[flag.into(), missing.join("x").into()]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("does not exist"),
            "{stderr}"
        );
        assert!(!out.exists(), "nothing ran, nothing was written");
    }
    let run = rank(&imgs, &missing.join("out.jsonl"), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("--out"), "{}", text(&run.stderr));
    let run = rank(&imgs, &out, &["--html".into(), tmp.path().into()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("is a folder"));
}

#[test]
fn a_second_run_cannot_append_to_a_locked_out() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    // Another run holds the lock (the same lock tandem takes: an exclusive file lock).
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .unwrap();
    holder.try_lock().expect("lock");
    let run = rank(&imgs, &out, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another tandem run"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), b"", "nothing appended");
    drop(holder);
    let run = rank(&imgs, &out, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(jsonl(&out).len(), 3);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_reported_naming_the_file_concisely() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut imgs = images(tmp.path());
    imgs.push(tmp.path().join("missing.png"));
    let out = tmp.path().join("out.jsonl");
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let run = rank(&imgs, &out, &["--errors".into(), "/dev/full".into()]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    assert!(
        line.contains("/dev/full") && line.contains("No space left"),
        "{line}"
    );
    assert!(line.len() < 300, "concise: {line}");
}

/// A copy of the tiny CLIP checkpoint whose `logit_scale` is NaN: every logit, every
/// probability NaN.
fn nan_clip(dir: &Path) -> PathBuf {
    let src = clip_tiny();
    let dst = dir.join("clip-nan");
    std::fs::create_dir(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    // safetensors: u64 header length, JSON header (offsets relative to the data), data.
    let path = dst.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let entry = &header["logit_scale"];
    assert_eq!(entry["dtype"], "F32", "{entry}");
    let start = 8 + n + entry["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    dst
}

#[test]
fn no_nan_or_null_probability_is_ever_written() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let imgs = images(tmp.path());
    let out = tmp.path().join("out.jsonl");
    let errors = tmp.path().join("errors.jsonl");
    let mut args: Vec<OsString> = vec!["rank".into()];
    args.extend(imgs.iter().map(|p| p.clone().into_os_string()));
    args.extend([
        "--clip-model".into(),
        nan_clip(tmp.path()).into_os_string(),
        "--out".into(),
        out.clone().into_os_string(),
        "--errors".into(),
        errors.clone().into_os_string(),
        "-q".into(),
        "--no-progress".into(),
        "--captions".into(),
        "a cat".into(),
        "a dog".into(),
    ]);
    let run = tandem(&args);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"",
        "no result line: {stderr}"
    );
    let dead = jsonl(&errors);
    assert_eq!(dead.len(), 3, "one dead letter per image");
    for d in &dead {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("probability of NaN"), "{reason}");
        assert!(d["stage"].as_str().unwrap().ends_with("Rank"), "{d}");
    }
}
