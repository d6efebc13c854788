//! `tandem launch -n 3 caption ...` (timely-dataflow, three local processes over 127.0.0.1)
//! writes the same JSONL results and dead letters, as sets, as the local runner.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(model: &str, name: &str) -> String {
    root()
        .join(format!("crates/tandem-{model}/tests/fixtures/{name}"))
        .display()
        .to_string()
}

fn tandem(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .env(
            "TANDEM_HOME",
            std::env::temp_dir().join("tandem-test-home-unused"),
        )
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .expect("the tandem binary runs")
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
    let mut args: Vec<String> = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
        .iter()
        .map(|f| root().join("examples/images").join(f).display().to_string())
        .collect();
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
        lines(&d.join("local.jsonl")),
        lines(&d.join("timely.jsonl")),
    );
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "same results as sets");
    assert_eq!(
        lines(&d.join("local-errors.jsonl")),
        lines(&d.join("timely-errors.jsonl"))
    );
}
