//! End to end through the `tandem` binary on the tiny fixture checkpoints, over the committed
//! photos plus bad inputs made in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(model: &str, name: &str) -> String {
    root()
        .join(format!("crates/tandem-{model}/tests/fixtures/{name}"))
        .display()
        .to_string()
}

fn photos() -> Vec<String> {
    ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
        .iter()
        .map(|f| root().join("examples/images").join(f).display().to_string())
        .collect()
}

fn tandem(args: &[&str]) -> Output {
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims 100000 × 100000 pixels (a decompression bomb's signature).
fn bomb_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    // The decoder wants to see the start of the image data before it reports dimensions.
    let mut idat = b"IDAT".to_vec();
    idat.extend([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png.extend(8u32.to_be_bytes());
    png.extend(&idat);
    png.extend(crc32(&idat).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    png
}

/// Checks that every non-void element is closed in order; returns the opening tags seen.
fn check_html_structure(html: &str) -> Vec<String> {
    // Inline SVG's `rect` and `line` are foreign elements: closed explicitly, not void.
    const VOID: &[&str] = &["meta", "img", "br", "hr", "link", "input"];
    assert!(html.starts_with("<!DOCTYPE html>"), "no doctype");
    let mut stack: Vec<String> = Vec::new();
    let mut opened = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map(|e| start + e)
            .expect("unterminated tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name.trim(), "mismatched </{name}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        opened.push(name.clone());
        if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    opened
}

#[test]
fn caption_writes_every_output_dead_letters_bad_inputs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notes.txt"), "not an image at all").unwrap();
    std::fs::write(d.join("empty.png"), b"").unwrap();
    let real = std::fs::read(root().join("examples/images/coffee.png")).unwrap();
    std::fs::write(d.join("truncated.png"), &real[..real.len().min(200)]).unwrap();
    std::fs::write(d.join("bomb.png"), bomb_png()).unwrap();
    let bad: Vec<String> = ["notes.txt", "empty.png", "truncated.png", "bomb.png"]
        .iter()
        .map(|f| d.join(f).display().to_string())
        .collect();
    let url = "http://127.0.0.1:1/unreachable.png".to_string();
    let (out, errors, html) = (
        d.join("out.jsonl"),
        d.join("errors.jsonl"),
        d.join("gallery.html"),
    );
    let (blip, clip) = (
        fixture("blip", "blip-tiny-a"),
        fixture("clip", "clip-tiny-a"),
    );
    let mut args: Vec<String> = vec!["caption".into()];
    args.extend(photos());
    args.extend(bad.iter().cloned());
    args.push(url.clone());
    for (k, v) in [("--blip-model", &blip), ("--clip-model", &clip)] {
        args.extend([k.to_string(), v.clone()]);
    }
    args.extend(["-n", "4", "--max-length", "12", "--out"].map(String::from));
    args.push(out.display().to_string());
    args.push("--errors".into());
    args.push(errors.display().to_string());
    args.push("--html".into());
    args.push(html.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();

    let run = tandem(&argv);
    let stdout = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(2),
        "exit code says something failed; stderr: {}",
        text(&run.stderr)
    );

    // Notebook-style text, one block per good image.
    for name in ["astronaut", "chelsea", "coffee", "rocket"] {
        assert!(stdout.contains(&format!("Image: {name}\n")), "{stdout}");
    }
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("Image: ") {
            let header = lines[i + 1];
            assert!(
                header.starts_with("Top ") && header.ends_with(" captions ranked by CLIP:"),
                "{header}"
            );
            let first = lines[i + 2];
            assert!(
                first.starts_with("1: ") && first.contains(" (Caption probability: 0.")
                    || first.contains(" (Caption probability: 1.00)"),
                "{first}"
            );
        }
    }

    // JSON Lines: every candidate, probabilities sorted and summing to one.
    let records = jsonl(&out);
    assert_eq!(records.len(), 4);
    let mut seen: Vec<String> = records
        .iter()
        .map(|r| r["image"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, {
        let mut p = photos();
        p.sort();
        p
    });
    for r in &records {
        let caps = r["captions"].as_array().unwrap();
        assert!(!caps.is_empty() && caps.len() <= 4);
        let probs: Vec<f64> = caps
            .iter()
            .map(|c| c["probability"].as_f64().unwrap())
            .collect();
        // Σ of ≤ 4 probabilities printed with 6+ significant digits: 1e-4 is generous.
        tandem_tensor_testing::assert_row_sums(
            "caption probabilities",
            &[1, probs.len()],
            &probs,
            1e-4,
        );
        assert!(probs.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(r["rank_model"].as_str().unwrap(), clip);
    }

    // Dead letters: each bad input once, with its reason.
    let dead = jsonl(&errors);
    let reason = |id: &str| -> String {
        let hits: Vec<&Value> = dead.iter().filter(|e| e["image"] == id).collect();
        assert_eq!(hits.len(), 1, "{id}: {dead:?}");
        hits[0]["reason"].as_str().unwrap().to_string()
    };
    assert_eq!(dead.len(), 5, "{dead:?}");
    assert!(reason(&bad[0]).contains("not an image"));
    assert!(reason(&bad[1]).contains("empty file"));
    assert!(!reason(&bad[2]).is_empty());
    assert!(reason(&bad[3]).contains("over the limit"));
    assert!(reason(&url).contains("unreachable"));

    // The HTML page is well formed and shows every image.
    let page = std::fs::read_to_string(&html).unwrap();
    let tags = check_html_structure(&page);
    assert_eq!(tags.iter().filter(|t| *t == "figure").count(), 4);
    for p in photos() {
        assert!(
            page.contains(&format!("data-image=\"{p}\"")),
            "{p} missing from the page"
        );
    }
    assert_eq!(page.matches("src=\"data:image/jpeg;base64,").count(), 4);
    assert!(page.contains("id=\"errors\""));

    // Resume: nothing is done twice.
    let again = tandem(&argv);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(jsonl(&out).len(), 4, "no duplicates after a resumed run");
    assert!(
        text(&again.stderr).contains("skipped (already in --out): 4"),
        "{}",
        text(&again.stderr)
    );
    assert!(!text(&again.stdout).contains("Image: "));

    // An interrupted run (last line lost) continues with just the missing image.
    let kept: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .take(3)
        .map(String::from)
        .collect();
    std::fs::write(&out, kept.join("\n")).unwrap();
    let mut good_only: Vec<String> = vec!["caption".into()];
    good_only.extend(photos());
    good_only.extend([
        "--blip-model".into(),
        blip.clone(),
        "--clip-model".into(),
        clip.clone(),
        "-n".into(),
        "4".into(),
        "--max-length".into(),
        "12".into(),
        "--out".into(),
        out.display().to_string(),
    ]);
    let argv: Vec<&str> = good_only.iter().map(String::as_str).collect();
    let resumed = tandem(&argv);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(text(&resumed.stdout).matches("Image: ").count(), 1);
    let mut ids: Vec<String> = jsonl(&out)
        .iter()
        .map(|r| r["image"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(jsonl(&out).len(), 4);
}

#[test]
fn rank_orders_given_texts_with_clip_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rank.jsonl");
    let clip = fixture("clip", "clip-tiny-a");
    let mut args = vec!["rank".to_string()];
    args.extend(photos());
    args.extend([
        "--clip-model".into(),
        clip,
        "--captions".into(),
        "a cat".into(),
        "a rocket".into(),
        "a cup of coffee".into(),
        "--top-k".into(),
        "2".into(),
        "--out".into(),
        out.display().to_string(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = tandem(&argv);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert_eq!(
        stdout.matches("Top 2 captions ranked by CLIP:").count(),
        4,
        "{stdout}"
    );
    for r in jsonl(&out) {
        let mut texts: Vec<&str> = r["captions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["caption"].as_str().unwrap())
            .collect();
        texts.sort();
        assert_eq!(texts, ["a cat", "a cup of coffee", "a rocket"]);
        assert!(r["caption_model"].is_null());
    }
}

#[test]
fn ab_reports_both_arms_with_an_interval_as_text_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("ab.html");
    let out = dir.path().join("ab.jsonl");
    let mut args = vec!["ab".to_string()];
    args.extend(photos());
    args.extend([
        "--blip-model".into(),
        fixture("blip", "blip-tiny-a"),
        "--clip-model".into(),
        fixture("clip", "clip-tiny-a"),
        "--challenger-clip-model".into(),
        fixture("clip", "clip-tiny-b"),
        "-n".into(),
        "3".into(),
        "--max-length".into(),
        "10".into(),
        "--quiet".into(),
        "--html".into(),
        html.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = tandem(&argv);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("A/B test: top-1 CLIP probability (split 50/50 by key hash)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("champion") && stdout.contains("challenger") && stdout.contains("95% CI"),
        "{stdout}"
    );
    let records = jsonl(&out);
    assert_eq!(records.len(), 4);
    let arms: Vec<&str> = records.iter().map(|r| r["arm"].as_str().unwrap()).collect();
    assert!(arms.iter().all(|a| *a == "champion" || *a == "challenger"));
    // Every record's top-1 probability is a probability, and its captions sum to one.
    for r in &records {
        let probs: Vec<f64> = r["captions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["probability"].as_f64().unwrap())
            .collect();
        tandem_tensor_testing::assert_row_sums("A/B captions", &[1, probs.len()], &probs, 1e-4);
    }
    // The split is by key hash: the same run again assigns the same arms, image by image.
    let arm_of = |records: &[Value]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = records
            .iter()
            .map(|r| {
                (
                    r["image"].as_str().unwrap().to_string(),
                    r["arm"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let out2 = dir.path().join("ab2.jsonl");
    let argv2: Vec<String> = args
        .iter()
        .map(|a| {
            if a == &out.display().to_string() {
                out2.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let argv2: Vec<&str> = argv2.iter().map(String::as_str).collect();
    let again = tandem(&argv2);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(
        arm_of(&jsonl(&out2)),
        arm_of(&records),
        "a second run assigns every image the same arm"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    check_html_structure(&page);
    assert!(page.contains("<svg") && page.contains("id=\"ab\""));
}

/// The captions themselves, not only the structure: greedy decoding through the binary gives
/// transformers' greedy captions for blip-tiny-a (`reference.json` `generations.greedy`,
/// max_length 20, no prompt); beam search with 3 beams returns transformers' best beam among
/// its 3, and each caption's probability is CLIP's (the `tandem-clip` library, itself checked
/// against transformers) for that image and those captions.
#[test]
fn caption_values_match_the_blip_and_clip_references() {
    let dir = tempfile::tempdir().unwrap();
    let blip_dir = root().join("crates/tandem-blip/tests/fixtures/blip-tiny-a");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(blip_dir.join("reference.json")).expect("reference.json"),
    )
    .expect("JSON");
    let names: Vec<String> = serde_json::from_value(reference["images"].clone()).expect("images");
    let text_of = |run: &str| -> Vec<String> {
        serde_json::from_value(reference["generations"][run]["text"].clone()).expect("text")
    };
    assert_eq!(reference["generation"]["max_length"].as_u64(), Some(20));
    let clip = tandem_clip::ClipModel::load(
        Path::new(&fixture("clip", "clip-tiny-a")),
        &tandem_tensor::CpuBackend,
        tandem_tensor::DType::F32,
    )
    .expect("clip-tiny-a loads");
    for (decoding, n, run) in [("greedy", "1", "greedy"), ("beam", "3", "beam3")] {
        let out = dir.path().join(format!("{decoding}.jsonl"));
        let mut args: Vec<String> = vec!["caption".into()];
        args.extend(photos());
        args.extend([
            "--blip-model".into(),
            fixture("blip", "blip-tiny-a"),
            "--clip-model".into(),
            fixture("clip", "clip-tiny-a"),
            "--decoding".into(),
            decoding.into(),
            "-n".into(),
            n.into(),
            "--max-length".into(),
            "20".into(),
            "-q".into(),
            "--no-progress".into(),
            "--out".into(),
            out.display().to_string(),
        ]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let run_out = tandem(&argv);
        assert_eq!(run_out.status.code(), Some(0), "{}", text(&run_out.stderr));
        let want = text_of(run);
        let records = jsonl(&out);
        assert_eq!(records.len(), names.len());
        for r in &records {
            let image = r["image"].as_str().unwrap();
            let i = names
                .iter()
                .position(|n| image.ends_with(&format!("/{n}")))
                .unwrap_or_else(|| panic!("{image} is not a fixture image"));
            let caps: Vec<String> = r["captions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["caption"].as_str().unwrap().to_string())
                .collect();
            let probs: Vec<f64> = r["captions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["probability"].as_f64().unwrap())
                .collect();
            assert_eq!(caps.len(), n.parse::<usize>().unwrap(), "{image}: {caps:?}");
            assert!(
                caps.contains(&want[i]),
                "{decoding} {image}: transformers' caption {:?} not among {caps:?}",
                want[i]
            );
            if decoding == "greedy" {
                assert_eq!(caps, [want[i].clone()], "{image}");
            }
            // CLIP's probabilities of these captions for this image, from the library.
            let photo =
                tandem_image::open_image(Path::new(image), tandem_image::ImageOptions::default())
                    .expect("photo");
            let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
            let ranked = clip.rank(&photo, &refs).expect("rank");
            let want_p: Vec<f64> = caps
                .iter()
                .map(|c| {
                    ranked
                        .iter()
                        .find(|(t, _)| t == c)
                        .map(|(_, p)| f64::from(*p))
                        .expect("ranked caption")
                })
                .collect();
            // The JSON holds f32 probabilities printed in full: same computation, same values
            // up to the printing (1e-6).
            tandem_tensor_testing::assert_close_slices(
                &format!("{decoding} {image} probabilities"),
                &probs,
                &want_p,
                tandem_tensor_testing::Close::abs(1e-6),
            );
            tandem_tensor_testing::assert_row_sums(image, &[1, probs.len()], &probs, 1e-5);
        }
    }
}

#[test]
fn unavailable_backend_and_missing_weights_fail_fast_with_clear_messages() {
    let photo = photos().remove(0);
    let run = tandem(&[
        "caption",
        &photo,
        "--backend",
        "cuda",
        "--blip-model",
        &fixture("blip", "blip-tiny-a"),
        "--clip-model",
        &fixture("clip", "clip-tiny-a"),
    ]);
    // CUDA is compiled in (it builds without a toolkit); without an NVIDIA driver the run
    // must not start, naming the backend and the way out. Where a driver exists it captions.
    match run.status.code() {
        Some(0) => {}
        Some(1) => {
            let err = text(&run.stderr);
            assert!(
                err.contains("backend `cuda` could not start") && err.contains("--backend cpu"),
                "{err}"
            );
        }
        other => panic!(
            "--backend cuda exited with {other:?}: {}",
            text(&run.stderr)
        ),
    }

    let home = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["caption", &photo])
        .env("TANDEM_HOME", home.path())
        .env("HF_HUB_CACHE", home.path())
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = text(&run.stderr);
    assert!(
        err.contains("--blip-model DIR") && err.contains("Salesforce/blip-image-captioning-base"),
        "{err}"
    );
}
