//! Every input as written yields exactly one record, a result or a dead letter with a reason,
//! and the summary adds up (issue 12, section 2): dangling and looping symlinks inside a
//! folder, FIFOs and devices given explicitly (never opened: a FIFO would block the run and
//! `/dev/zero` never ends), file names that are not UTF-8 (distinct, lossless keys), explicit
//! paths with glob characters (taken literally), `@list` lines (verbatim), repeated inputs
//! (merged and counted).
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{clip_tiny, jsonl, keys, plain_png, run_within, text};

/// What a run wrote: (exit code, result keys, dead letters as (key, reason), stderr).
type Written = (Option<i32>, Vec<String>, Vec<(String, String)>, String);

/// `tandem rank INPUTS` on the tiny CLIP checkpoint.
fn rank(dir: &Path, inputs: &[OsString]) -> Written {
    let (out, errors) = (dir.join("out.jsonl"), dir.join("errors.jsonl"));
    let _ = std::fs::remove_file(&out);
    let mut args: Vec<OsString> = vec!["rank".into()];
    args.extend(inputs.iter().cloned());
    for a in [
        "--clip-model".as_ref(),
        clip_tiny().as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--errors".as_ref(),
        errors.as_os_str(),
        "-q".as_ref(),
        "--no-progress".as_ref(),
        "--captions".as_ref(),
        "a cat".as_ref(),
        "a dog".as_ref(),
    ] {
        args.push(OsString::from(a as &OsStr));
    }
    // A FIFO that were opened would block forever: the limit turns a hang into a failure.
    let run = run_within(&args, Duration::from_secs(120));
    let results = if out.exists() {
        keys(&jsonl(&out))
    } else {
        Vec::new()
    };
    let dead: Vec<(String, String)> = if errors.exists() {
        jsonl(&errors)
            .iter()
            .map(|r| {
                (
                    r["image"].as_str().expect("key").to_string(),
                    r["reason"].as_str().expect("reason").to_string(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    (run.status.code(), results, dead, text(&run.stderr))
}

fn copy_image(to: &Path) {
    std::fs::copy(plain_png(), to).expect("copy the fixture image");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn key(p: &Path) -> String {
    p.to_str().expect("a UTF-8 test path").to_string()
}

/// Every key appears exactly once across results and dead letters.
fn once_each(results: &[String], dead: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for k in results.iter().chain(dead.iter().map(|(k, _)| k)) {
        *seen.entry(k.clone()).or_insert(0) += 1;
    }
    for (k, n) in &seen {
        assert_eq!(*n, 1, "{k} has {n} records");
    }
    seen
}

#[test]
fn links_fifos_and_devices_in_a_folder_or_given_explicitly_are_dead_letters() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let photos = tmp.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    copy_image(&photos.join("good.png"));
    std::os::unix::fs::symlink(photos.join("gone.png"), photos.join("broken.png")).unwrap();
    std::os::unix::fs::symlink(photos.join("loop.png"), photos.join("loop.png")).unwrap();
    std::os::unix::fs::symlink("good.png", photos.join("alias.png")).unwrap();
    mkfifo(&photos.join("pipe.png"));
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();
    let fifo = tmp.path().join("explicit-fifo");
    mkfifo(&fifo);

    let inputs: Vec<OsString> = vec![
        photos.clone().into(),
        fifo.clone().into(),
        "/dev/zero".into(),
        "/dev/null".into(),
    ];
    let (code, results, dead, stderr) = rank(tmp.path(), &inputs);
    assert_eq!(code, Some(2), "some inputs failed: exit 2\n{stderr}");
    let seen = once_each(&results, &dead);
    let mut want: Vec<String> = [
        "alias.png",
        "broken.png",
        "good.png",
        "loop.png",
        "pipe.png",
    ]
    .iter()
    .map(|n| key(&photos.join(n)))
    .collect();
    want.extend([key(&fifo), "/dev/zero".into(), "/dev/null".into()]);
    want.sort();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), want);
    let mut ok = results.clone();
    ok.sort();
    assert_eq!(
        ok,
        [
            key(&photos.join("alias.png")),
            key(&photos.join("good.png"))
        ],
        "the image and the link to it"
    );
    let reason = |name: &str| {
        dead.iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no dead letter for {name}: {dead:?}"))
    };
    assert!(reason(&key(&photos.join("broken.png"))).contains("broken symbolic link"));
    assert!(reason(&key(&photos.join("loop.png"))).contains("symbolic link"));
    assert!(reason(&key(&photos.join("pipe.png"))).contains("FIFO"));
    assert!(reason(&key(&fifo)).contains("FIFO"));
    assert!(reason("/dev/zero").contains("character device"));
    assert!(reason("/dev/null").contains("character device"));
    assert!(stderr.contains("done: 2 images, failed: 6,"), "{stderr}");
    assert!(
        stderr.contains("1 files in folders/globs without an image extension"),
        "{stderr}"
    );
}

#[test]
fn names_that_are_not_utf8_keep_distinct_lossless_keys() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let photos = tmp.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    // Lossy conversion turns both into "caf\u{FFFD}.png": they used to collide.
    let names: [&[u8]; 3] = [b"caf\xe9.png", b"caf\xe8.png", b"caf\xef\xbf\xbd.png"];
    for n in names {
        copy_image(&photos.join(OsStr::from_bytes(n)));
    }
    // The same names through a folder, explicitly, and in an @list file.
    let list = tmp.path().join("list.txt");
    let mut listing = Vec::new();
    for n in names {
        listing.extend_from_slice(photos.join(OsStr::from_bytes(n)).as_os_str().as_bytes());
        listing.push(b'\n');
    }
    std::fs::write(&list, listing).unwrap();
    let mut at = OsString::from("@");
    at.push(&list);
    let explicit = photos.join(OsStr::from_bytes(names[0]));
    let (code, results, dead, stderr) =
        rank(tmp.path(), &[photos.clone().into(), explicit.into(), at]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dead.is_empty(), "{dead:?}");
    once_each(&results, &dead);
    let base = key(&photos);
    let mut want = vec![
        format!("{base}/caf\\xE8.png"),
        format!("{base}/caf\\xE9.png"),
        format!("{base}/caf\u{FFFD}.png"),
    ];
    want.sort();
    let mut got = results.clone();
    got.sort();
    assert_eq!(got, want);
    assert!(stderr.contains("duplicates merged: 4,"), "{stderr}");
}

#[test]
fn explicit_paths_are_literal_and_list_lines_verbatim() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    // `[x].png` as a glob would match `x.png`; given explicitly, it is the file of that name.
    for n in [
        "[x].png",
        "x.png",
        "what?.png",
        "#hash.png",
        " spaced.png ",
        "star*.png",
    ] {
        copy_image(&d.join(n));
    }
    let list = d.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\r\n{}\n\n{}\n",
            d.join("#hash.png").display(),
            d.join(" spaced.png ").display(),
            d.join("star*.png").display()
        ),
    )
    .unwrap();
    let mut at = OsString::from("@");
    at.push(&list);
    let bracket = d.join("[x].png");
    let inputs: Vec<OsString> = vec![
        bracket.clone().into(),
        d.join("what?.png").into(),
        at,
        bracket.clone().into(),
    ];
    let (code, results, dead, stderr) = rank(d, &inputs);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dead.is_empty(), "{dead:?}");
    once_each(&results, &dead);
    let mut want: Vec<String> = [
        "[x].png",
        "what?.png",
        "#hash.png",
        " spaced.png ",
        "star*.png",
    ]
    .iter()
    .map(|n| key(&d.join(n)))
    .collect();
    // Results are written as they finish, in any order.
    want.sort();
    let mut got = results.clone();
    got.sort();
    assert_eq!(got, want, "each once, none of them x.png");
    assert!(
        stderr.contains(
            "done: 5 images, failed: 0, skipped (already in --out): 0, duplicates merged: 1,"
        ),
        "{stderr}"
    );
    // `rank` calls CLIP only; the time inside its calls is reported for its step.
    let calls = stderr
        .lines()
        .find_map(|l| l.strip_prefix("model calls:"))
        .unwrap_or_else(|| panic!("no model calls line: {stderr}"));
    let steps: Vec<(&str, f64, u64)> = calls
        .split(';')
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let words: Vec<&str> = e.split_whitespace().collect();
            match words[..] {
                [step, secs, "in", n, "calls"] => Some((
                    step,
                    secs.trim_end_matches('s').parse().ok()?,
                    n.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect();
    // The seconds are printed to 0.01 s: a tiny test model's call can show 0.00 on a fast CPU
    // (it did on a Xeon with AMX), so only the step, a parsable time and the call count count.
    assert!(
        matches!(steps[..], [("CLIP/RunInference", secs, n)] if secs >= 0.0 && n >= 1),
        "{calls}"
    );
}

#[test]
fn a_glob_still_expands_when_no_such_file_exists() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    for n in ["a1.png", "a2.png", "b.png"] {
        copy_image(&d.join(n));
    }
    std::os::unix::fs::symlink(d.join("nothing.png"), d.join("a3.png")).unwrap();
    let pattern = PathBuf::from(format!("{}/a*.png", d.display()));
    let (code, results, dead, stderr) = rank(d, &[pattern.into()]);
    assert_eq!(code, Some(2), "{stderr}");
    let mut got = results.clone();
    got.sort();
    assert_eq!(got, [key(&d.join("a1.png")), key(&d.join("a2.png"))]);
    assert_eq!(dead.len(), 1, "the dangling link fails visibly: {dead:?}");
    assert_eq!(dead[0].0, key(&d.join("a3.png")));
}

#[test]
fn stdin_lines_are_verbatim_too() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    for n in ["#one.png", "two.png"] {
        copy_image(&d.join(n));
    }
    let out = d.join("out.jsonl");
    let mut child = common::command(&[
        OsString::from("rank"),
        "-".into(),
        "--clip-model".into(),
        clip_tiny().into(),
        "--out".into(),
        out.clone().into(),
        "-q".into(),
        "--no-progress".into(),
        "--captions".into(),
        "a cat".into(),
    ])
    .stdin(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start");
    let mut lines = Vec::new();
    for n in ["#one.png", "two.png", "two.png"] {
        lines.extend_from_slice(d.join(n).as_os_str().as_bytes());
        lines.extend_from_slice(b"\r\n");
    }
    lines.extend_from_slice(
        d.join(OsStr::from_bytes(b"caf\xe9.png"))
            .as_os_str()
            .as_bytes(),
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&lines)
        .unwrap();
    let run = child.wait_with_output().expect("finish");
    let stderr = text(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(2),
        "the missing file failed: {stderr}"
    );
    let mut got = keys(&jsonl(&out));
    got.sort();
    assert_eq!(got, [key(&d.join("#one.png")), key(&d.join("two.png"))]);
    assert!(stderr.contains("failed: 1,"), "{stderr}");
    assert!(stderr.contains("duplicates merged: 1,"), "{stderr}");
    let bytes = OsString::from_vec(b"caf\\xE9.png".to_vec());
    assert!(
        stderr.contains(bytes.to_str().unwrap()),
        "the failure names the escaped key: {stderr}"
    );
}
