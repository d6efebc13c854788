//! What users of the Python ecosystem expect, through the `tandem` binary on the tiny fixture
//! checkpoints: hub ids found in a Hugging Face cache folder (built here, offline), logs under
//! `-v`/`RUST_LOG`, the live Prometheus endpoint scraped during a streaming run, and the A/B
//! test in shadow mode and with a challenger that differs in BLIP.
//!
//! Nothing here contacts a network host or asserts a duration: waits are for events, with a
//! liveness timeout that only turns a hang into a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{fixture, jsonl, photos, text};

const LIVENESS: Duration = Duration::from_secs(300);

/// The binary with no way to reach a hub and no real cache.
fn tandem(args: &[String], hf_cache: &Path) -> Command {
    let mut cmd = common::command(args);
    cmd.env("TANDEM_HOME", hf_cache.join("tandem-home-unused"))
        .env("HF_HUB_CACHE", hf_cache)
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .env_remove("RUST_LOG");
    cmd
}

fn run(args: &[String], hf_cache: &Path) -> Output {
    tandem(args, hf_cache)
        .output()
        .expect("the tandem binary runs")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Copies checkpoint folder `src` into `cache` as `huggingface_hub` stores repository `repo`:
/// blobs named by content hash, a snapshot of relative symlinks, `refs/main`.
fn add_to_hf_cache(cache: &Path, repo: &str, commit: &str, src: &str) {
    use sha2::{Digest, Sha256};
    let dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = dir.join("snapshots").join(commit);
    for d in [dir.join("blobs"), dir.join("refs"), snapshot.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let blob: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(dir.join("blobs").join(&blob), &bytes).unwrap();
        let name = path.file_name().unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snapshot.join(name)).unwrap();
        #[cfg(not(unix))]
        std::fs::write(snapshot.join(name), &bytes).unwrap();
    }
    std::fs::write(dir.join("refs/main"), commit).unwrap();
}

const COMMIT: &str = "1111111111111111111111111111111111111111";

#[test]
fn hub_ids_are_found_in_the_hugging_face_cache_offline() {
    let cache = tempfile::tempdir().unwrap();
    add_to_hf_cache(
        cache.path(),
        "tandem-test/blip-tiny",
        COMMIT,
        &fixture("blip", "blip-tiny-a"),
    );
    add_to_hf_cache(
        cache.path(),
        "tandem-test/clip-tiny",
        COMMIT,
        &fixture("clip", "clip-tiny-a"),
    );
    let out = cache.path().join("out.jsonl");
    let mut args = strings(&["caption", &photos()[0]]);
    args.extend(strings(&[
        "--blip-model",
        "tandem-test/blip-tiny",
        "--clip-model",
        &format!("tandem-test/clip-tiny@{COMMIT}"),
        "-n",
        "2",
        "--max-length",
        "8",
        "-q",
        "--out",
        &out.display().to_string(),
    ]));
    let ok = tandem(&args, cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let record = &jsonl(&out)[0];
    let snapshot = |repo: &str| {
        cache
            .path()
            .join(format!("models--tandem-test--{repo}/snapshots/{COMMIT}"))
            .display()
            .to_string()
    };
    assert_eq!(record["caption_model"], snapshot("blip-tiny"));
    assert_eq!(record["rank_model"], snapshot("clip-tiny"));

    // Not in the cache, offline: refused at once, naming the cache and the way out. (A fresh
    // --out: with the image already in it there would be nothing to do and no model to find.)
    std::fs::remove_file(&out).unwrap();
    args[5] = "tandem-test/not-cached".into();
    let refused = tandem(&args, cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.contains("tandem-test/not-cached@main")
            && err.contains("HF_HUB_OFFLINE")
            && err.contains("--clip-model DIR"),
        "{err}"
    );
    // Neither a folder nor a hub id.
    args[5] = "no/such/folder".into();
    let bad = run(&args, cache.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("not a hub id"),
        "{}",
        text(&bad.stderr)
    );
}

fn tiny_models() -> Vec<String> {
    strings(&[
        "--blip-model",
        &fixture("blip", "blip-tiny-a"),
        "--clip-model",
        &fixture("clip", "clip-tiny-a"),
        "-n",
        "2",
        "--max-length",
        "8",
    ])
}

#[test]
fn verbosity_flags_and_rust_log_choose_what_is_logged() {
    let cache = tempfile::tempdir().unwrap();
    let mut args = strings(&["caption", &photos()[0], "-q", "--no-progress"]);
    args.extend(tiny_models());
    let quiet = run(&args, cache.path());
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    assert!(
        !text(&quiet.stderr).contains("DEBUG"),
        "{}",
        text(&quiet.stderr)
    );

    args.push("-v".into());
    let verbose = run(&args, cache.path());
    let err = text(&verbose.stderr);
    assert!(
        err.contains("DEBUG") && err.contains("running the pipeline"),
        "{err}"
    );
    args.pop();

    let filtered = tandem(&args, cache.path())
        .env("RUST_LOG", "tandem_cli=debug")
        .output()
        .unwrap();
    assert!(text(&filtered.stderr).contains("running the pipeline"));
}

/// Reads lines of `reader` into a channel from a thread.
fn lines(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_metrics_endpoint_is_scraped_during_a_streaming_run() {
    let cache = tempfile::tempdir().unwrap();
    let mut args = strings(&[
        "caption",
        "-",
        "--no-progress",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    args.extend(tiny_models());
    let mut child = tandem(&args, cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let stdout = lines(child.stdout.take().unwrap());
    let addr = loop {
        let line = stderr
            .recv_timeout(LIVENESS)
            .expect("the metrics address is logged");
        if let Some(rest) = line.split("serving Prometheus metrics at http://").nth(1) {
            break rest.trim_end_matches("/metrics").to_string();
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", photos()[0]).unwrap();
    stdin.flush().unwrap();
    // The first result is printed while stdin is still open: the run is live.
    loop {
        let line = stdout
            .recv_timeout(LIVENESS)
            .expect("a result while stdin is open");
        if line.starts_with("Image: ") {
            break;
        }
    }
    // Its record may still be between the printer and the counter: wait for the count.
    let mut page = scrape(&addr);
    let start = std::time::Instant::now();
    while value(&page, "tandem_results_total") != Some(1.0) {
        assert!(start.elapsed() < LIVENESS, "{page}");
        std::thread::sleep(Duration::from_millis(5));
        page = scrape(&addr);
    }
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert_eq!(
        value(&page, "tandem_inputs_read_total"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(value(&page, "tandem_failures_total"), Some(0.0), "{page}");
    assert_eq!(value(&page, "tandem_inputs_in_flight"), Some(0.0), "{page}");
    for step in ["BLIP/RunInference", "CLIP/RunInference"] {
        let series = page
            .lines()
            .find(|l| l.contains("_batches_total{") && l.contains(&format!("step=\"{step}\"")))
            .unwrap_or_else(|| panic!("no batches series for {step}: {page}"));
        let batches: Option<f64> = series.rsplit(' ').next().and_then(|v| v.parse().ok());
        assert_eq!(batches, Some(1.0), "{series}");
        assert!(
            page.contains(&format!("_batch_size_bucket{{step=\"{step}\"")),
            "{page}"
        );
        assert!(
            page.lines()
                .any(|l| l.contains("_model_load_seconds{")
                    && l.contains(&format!("step=\"{step}\""))),
            "{page}"
        );
    }
    assert!(
        page.contains("# TYPE tandem_inputs_in_flight gauge"),
        "{page}"
    );

    // A second input moves the counters while the run goes on.
    writeln!(stdin, "{}", photos()[1]).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        TcpStream::connect(&addr).is_err(),
        "the endpoint ends with the run"
    );
}

/// `tandem ab --shadow` on the photos with the tiny models, the challenger ranking with
/// `clip-tiny-b`, results to `out`.
fn shadow_args(out: &Path) -> Vec<String> {
    let mut args = strings(&["ab"]);
    args.extend(photos());
    args.extend(tiny_models());
    args.extend(strings(&[
        "--shadow",
        "--challenger-clip-model",
        &fixture("clip", "clip-tiny-b"),
        "--quiet",
        "--no-progress",
        "--out",
        &out.display().to_string(),
    ]));
    args
}

#[test]
fn shadow_mode_runs_both_arms_on_every_image_and_pairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shadow.jsonl");
    let html = dir.path().join("shadow.html");
    let mut args = shadow_args(&out);
    args.extend(strings(&[
        "--challenger-decoding",
        "beam",
        "--html",
        &html.display().to_string(),
    ]));
    let r = run(&args, dir.path());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(
        stdout.contains("(shadow: both arms on every image)"),
        "{stdout}"
    );
    assert!(stdout.contains("(paired t, 3 dof)"), "{stdout}");
    assert!(
        stdout.contains("sign test: challenger higher on "),
        "{stdout}"
    );
    assert!(stdout.contains(" of 4 images ("), "{stdout}");
    let records = jsonl(&out);
    assert_eq!(records.len(), 8, "one line per image and arm");
    for photo in photos() {
        let mut arms: Vec<&str> = records
            .iter()
            .filter(|r| r["image"] == photo.as_str())
            .map(|r| r["arm"].as_str().unwrap())
            .collect();
        arms.sort_unstable();
        assert_eq!(arms, ["challenger", "champion"], "{photo}");
    }
    // Each arm's records name its own models.
    let arm = |name: &str| records.iter().find(|r| r["arm"] == name).unwrap();
    assert!(arm("challenger")["rank_model"]
        .as_str()
        .unwrap()
        .ends_with("clip-tiny-b"));
    assert!(arm("champion")["rank_model"]
        .as_str()
        .unwrap()
        .ends_with("clip-tiny-a"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("id=\"ab\"") && page.contains("sign test"),
        "{page}"
    );
    assert!(
        text(&r.stderr).contains("results (2 per image)"),
        "{}",
        text(&r.stderr)
    );

    // --shadow and --split are two designs: both at once is refused.
    args.extend(strings(&["--split", "90:10"]));
    let both = run(&args, dir.path());
    assert_eq!(both.status.code(), Some(1));
}

/// A shadow run killed between an image's two arms: the rerun writes only the missing arm,
/// runs the images that have none, skips the complete ones, and pairs all of them.
#[test]
fn a_resumed_shadow_run_completes_half_written_images_without_duplicating_an_arm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shadow.jsonl");
    let args = shadow_args(&out);
    let first = run(&args, dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let full = std::fs::read_to_string(&out).unwrap();
    let photos = photos();
    // Keep what a run killed part-way could have written: photo 0's champion only, nothing
    // of photo 1, photos 2 and 3 whole.
    let kept: Vec<&str> = full
        .lines()
        .filter(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            let image = r["image"].as_str().unwrap();
            !(image == photos[1] || (image == photos[0] && r["arm"] == "challenger"))
        })
        .collect();
    assert_eq!(kept.len(), 5);
    std::fs::write(&out, kept.join("\n") + "\n").unwrap();

    let rerun = run(&args, dir.path());
    let stderr = text(&rerun.stderr);
    assert_eq!(rerun.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("done: 3 results (2 per image), failed: 0, skipped (already in --out): 2,"),
        "photo 0's challenger and photo 1's two arms: {stderr}"
    );
    let records = jsonl(&out);
    let mut pairs: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["image"].as_str().unwrap().to_string(),
                r["arm"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    let mut want: Vec<(String, String)> = photos
        .iter()
        .flat_map(|p| ["challenger", "champion"].map(|a| (p.clone(), a.to_string())))
        .collect();
    want.sort();
    assert_eq!(pairs, want, "every image and arm exactly once");
    // The report pairs the earlier run's records with this run's.
    let stdout = text(&rerun.stdout);
    assert!(stdout.contains("(paired t, 3 dof)"), "{stdout}");
    assert!(stdout.contains(" of 4 images ("), "{stdout}");
}

#[test]
fn a_challenger_with_another_blip_runs_its_own_cascade_in_a_split_test() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ab.jsonl");
    let mut args = strings(&["ab"]);
    args.extend(photos());
    args.extend(tiny_models());
    args.extend(strings(&[
        "--challenger-blip-model",
        &fixture("blip", "blip-tiny-b"),
        "--challenger-temperature",
        "0.7",
        "--split",
        "1:1",
        "--quiet",
        "--no-progress",
        "--out",
        &out.display().to_string(),
    ]));
    let r = run(&args, dir.path());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(stdout.contains("(split 1/1 by key hash)"), "{stdout}");
    assert!(
        stdout.contains("BLIP ") && stdout.contains("blip-tiny-b"),
        "{stdout}"
    );
    let records = jsonl(&out);
    assert_eq!(records.len(), 4, "one line per image in a split test");
    for r in &records {
        let blip = r["caption_model"].as_str().unwrap();
        match r["arm"].as_str().unwrap() {
            "champion" => assert!(blip.ends_with("blip-tiny-a"), "{r}"),
            "challenger" => assert!(blip.ends_with("blip-tiny-b"), "{r}"),
            other => panic!("arm {other}"),
        }
    }

    // A challenger setting that cannot be honoured is refused, naming it.
    let mut bad = args.clone();
    bad.extend(strings(&["--challenger-sample-top-p", "1.5"]));
    let refused = run(&bad, dir.path());
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.contains("challenger settings") && err.contains("--sample-top-p"),
        "{err}"
    );
}
