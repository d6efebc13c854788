//! `tandem launch -n 3 caption ...` (timely-dataflow, three local processes over 127.0.0.1)
//! writes the same JSONL results (up to float rounding of the probabilities) and dead letters,
//! as sets, as the local runner.

use std::collections::BTreeSet;
use std::path::Path;

mod common;
use common::{fixture, photos, tandem};

/// The records of a results file by image (the order differs between runners).
fn records(path: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    lines(path)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (v["image"].as_str().expect("an image key").to_string(), v)
        })
        .collect()
}

/// The lines of a JSONL file, as a set (order differs between runners).
fn lines(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

fn caption_args(dir: &Path, tag: &str) -> Vec<String> {
    let mut args = photos();
    let bad = dir.join("bad.png");
    std::fs::write(&bad, b"not a png").expect("write a bad input");
    args.push(bad.display().to_string());
    for (k, v) in [
        ("--blip-model", fixture("blip", "blip-tiny-a")),
        ("--clip-model", fixture("clip", "clip-tiny-a")),
    ] {
        args.extend([k.to_string(), v]);
    }
    args.extend(["-n", "4", "--max-length", "12", "--quiet", "--no-progress"].map(String::from));
    args.push("--out".into());
    args.push(dir.join(format!("{tag}.jsonl")).display().to_string());
    args.push("--errors".into());
    args.push(
        dir.join(format!("{tag}-errors.jsonl"))
            .display()
            .to_string(),
    );
    args
}

#[test]
fn three_timely_processes_write_the_local_runners_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut local = vec!["caption".to_string()];
    local.extend(caption_args(d, "local"));
    let run = tandem(&local);
    assert_eq!(
        run.status.code(),
        Some(2),
        "local: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    let mut launched = vec![
        "launch".to_string(),
        "-n".into(),
        "3".into(),
        "caption".into(),
    ];
    launched.extend(caption_args(d, "timely"));
    let run = tandem(&launched);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "timely: {stderr}");
    assert!(stderr.contains("done: 4 images, failed: 1"), "{stderr}");

    let (a, b) = (
        records(&d.join("local.jsonl")),
        records(&d.join("timely.jsonl")),
    );
    assert_eq!(a.len(), 4);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same images"
    );
    for (image, local) in &a {
        let timely = &b[image];
        // Everything but the probabilities is identical (captions are seeded per image, so
        // sampling does not depend on the runner). The probabilities come from CLIP batches
        // that hold other images on each runner, so they agree to float rounding only.
        let strip = |r: &serde_json::Value| {
            let mut r = r.clone();
            for c in r["captions"].as_array_mut().into_iter().flatten() {
                c["probability"] = serde_json::Value::Null;
            }
            r
        };
        assert_eq!(strip(local), strip(timely), "{image}");
        let p = |r: &serde_json::Value| -> Vec<f64> {
            r["captions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["probability"].as_f64())
                .collect()
        };
        tandem_tensor_testing::assert_close_slices(
            image,
            &p(timely),
            &p(local),
            tandem_tensor_testing::Close::abs(1e-5),
        );
    }
    assert_eq!(
        lines(&d.join("local-errors.jsonl")),
        lines(&d.join("timely-errors.jsonl"))
    );
}

/// Paths on stdin (`-`) reach one reader: every line becomes exactly one record, however many
/// processes and workers run (each process used to take lines off the shared stream and keep
/// only "its" positions, losing the others').
#[test]
fn stdin_inputs_are_read_once_on_a_timely_run() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut args = caption_args(d, "stdin");
    let listed: Vec<String> = args.drain(..5).collect();
    let mut launched: Vec<String> = ["launch", "-n", "2", "caption", "-", "-w", "2"]
        .map(String::from)
        .to_vec();
    launched.extend(args);
    let mut child = common::command(&launched)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the tandem binary runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for path in &listed {
            writeln!(stdin, "{path}").expect("write a path");
        }
    }
    let run = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(records(&d.join("stdin.jsonl")).len(), 4, "{stderr}");
    assert_eq!(lines(&d.join("stdin-errors.jsonl")).len(), 1, "{stderr}");
}
