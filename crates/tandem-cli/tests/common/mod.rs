//! What the CLI's integration tests share: fixture paths, running the binary, reading its
//! JSON Lines. (Each test file is its own crate and uses a part of this.)
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tiny random-weight BLIP checkpoint the parity tests use.
pub fn blip_tiny() -> PathBuf {
    root().join("crates/tandem-blip/tests/fixtures/blip-tiny-a")
}

/// The tiny random-weight CLIP checkpoint the parity tests use.
pub fn clip_tiny() -> PathBuf {
    root().join("crates/tandem-clip/tests/fixtures/clip-tiny-a")
}

/// A test checkpoint folder of a model crate (`fixture("clip", "clip-tiny-b")`), as a string
/// argument.
pub fn fixture(model: &str, name: &str) -> String {
    root()
        .join(format!("crates/tandem-{model}/tests/fixtures/{name}"))
        .display()
        .to_string()
}

/// The committed photos (`examples/images`), as string arguments.
pub fn photos() -> Vec<String> {
    ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
        .iter()
        .map(|f| root().join("examples/images").join(f).display().to_string())
        .collect()
}

/// A small real image.
pub fn plain_png() -> PathBuf {
    root().join("crates/tandem-blip/tests/fixtures/generation-settings/plain.png")
}

/// `tandem` with `args`, offline (no cache, no hub), not yet started.
pub fn command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(args)
        .env(
            "TANDEM_HOME",
            std::env::temp_dir().join("tandem-test-home-unused"),
        )
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `tandem` with `args` to completion, killing it (and failing) after `limit`: a test
/// of "never hangs" must not hang itself.
pub fn run_within<S: AsRef<OsStr>>(args: &[S], limit: Duration) -> Output {
    let mut child: Child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tandem binary starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "tandem did not finish within {limit:?}; stderr so far:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `tandem` with `args` (three minutes at most).
pub fn tandem<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_within(args, Duration::from_secs(180))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every line of a JSON Lines file, parsed (a line that does not parse fails the test).
pub fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is not readable UTF-8: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l:?}: {e}", path.display()))
        })
        .collect()
}

/// The `image` keys of JSON Lines records.
pub fn keys(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["image"].as_str().expect("an image key").to_string())
        .collect()
}
