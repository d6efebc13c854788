//! Streaming and interruption through the `tandem` binary on the tiny fixture checkpoints:
//! results leave as they are done (a kill -9 keeps them and the rerun does only the rest),
//! `tandem caption -` answers each path before stdin closes, and SIGINT finishes what was
//! read, writes the summary and the HTML page, and exits with 130.
//!
//! Nothing here asserts a duration: the tests wait for events (a line in a file, a line on
//! stdout) with generous liveness timeouts that only turn a hang into a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const LIVENESS: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(model: &str, name: &str) -> String {
    root()
        .join(format!("crates/tandem-{model}/tests/fixtures/{name}"))
        .display()
        .to_string()
}

/// `n` images in `dir`: copies of the committed photos under distinct names.
fn images(dir: &Path, n: usize) -> Vec<PathBuf> {
    let photos = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];
    (0..n)
        .map(|i| {
            let src = photos[i % photos.len()];
            let ext = src.rsplit('.').next().unwrap_or("png");
            let path = dir.join(format!("img{i:03}.{ext}"));
            std::fs::copy(root().join("examples/images").join(src), &path).unwrap();
            path
        })
        .collect()
}

fn tandem(args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(args)
        .args([
            "--blip-model",
            &fixture("blip", "blip-tiny-a"),
            "--clip-model",
            &fixture("clip", "clip-tiny-a"),
            "-n",
            "2",
            "--max-length",
            "8",
            "--no-progress",
        ])
        .env(
            "TANDEM_HOME",
            std::env::temp_dir().join("tandem-test-home-unused"),
        )
        .env("HF_ENDPOINT", "http://127.0.0.1:1");
    cmd
}

/// The complete JSON lines of `path` (a torn last line is not a result).
fn results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until `check` holds, polling; fails the test after the liveness timeout.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < LIVENESS, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_run_killed_after_its_first_results_keeps_them_and_the_rerun_does_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let all = images(&inputs, 40);
    let out = dir.path().join("out.jsonl");
    let args = vec![
        "caption".to_string(),
        inputs.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "-q".into(),
    ];

    let mut first = tandem(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first result in --out", || !results(&out).is_empty());
    kill_and_reap(&mut first); // SIGKILL: no chance to flush anything more.
    let kept = results(&out).len();
    assert!(
        (1..40).contains(&kept),
        "the first run was killed mid-way and kept {kept} of 40 results"
    );

    let rerun = tandem(&args).output().unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        stderr.contains(&format!("skipped (already in --out): {kept}")),
        "the rerun redid finished images: {stderr}"
    );
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in results(&out) {
        *per_key
            .entry(r["image"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_key.len(), 40, "every input has a result");
    assert!(
        per_key.values().all(|&n| n == 1),
        "a key was written twice: {per_key:?}"
    );
    for p in all {
        assert!(per_key.contains_key(&p.display().to_string()));
    }
}

/// Reads the child's stdout lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_image_block(lines: &mpsc::Receiver<String>) -> String {
    loop {
        let line = lines.recv_timeout(LIVENESS).expect("a result on stdout");
        if let Some(name) = line.strip_prefix("Image: ") {
            return name.to_string();
        }
    }
}

#[test]
fn caption_from_stdin_answers_each_path_before_stdin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(dir.path(), 3);
    let out = dir.path().join("out.jsonl");
    let args = vec![
        "caption".to_string(),
        "-".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    let mut child = tandem(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    for (i, img) in imgs.iter().enumerate() {
        writeln!(stdin, "{}", img.display()).unwrap();
        stdin.flush().unwrap();
        // The producer keeps stdin open and waits: the answer must come anyway.
        assert_eq!(next_image_block(&lines), format!("img{i:03}"));
        assert_eq!(results(&out).len(), i + 1, "--out is written per result");
    }
    // A repeated path is merged, not captioned twice.
    writeln!(stdin, "{}", imgs[0].display()).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(results(&out).len(), 3);
}

#[test]
fn sigint_finishes_what_was_read_writes_the_summary_and_html_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(dir.path(), 2);
    let (out, html) = (dir.path().join("out.jsonl"), dir.path().join("page.html"));
    let args = vec![
        "caption".to_string(),
        "-".into(),
        "--out".into(),
        out.display().to_string(),
        "--html".into(),
        html.display().to_string(),
    ];
    let mut child = tandem(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", imgs[0].display()).unwrap();
    stdin.flush().unwrap();
    next_image_block(&lines);
    // stdin stays open: only the interrupt can end this run.
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = tx.send(output);
        drop(stdin);
    });
    let output = rx
        .recv_timeout(LIVENESS)
        .expect("the run ends after SIGINT")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("done: 1 images"), "{stderr}");
    assert_eq!(results(&out).len(), 1);
    let page = std::fs::read_to_string(&html).expect("the HTML page is written");
    assert!(page.contains(&imgs[0].display().to_string()));
}
