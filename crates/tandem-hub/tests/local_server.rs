//! Downloads into the Hugging Face cache layout against a tiny HTTP server on 127.0.0.1
//! started inside the test (standing in for `HF_ENDPOINT`): resume with `Range`, sha256
//! verification, clear errors, and finding what is already cached. No real host is contacted.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tandem_hub::{HfCache, Hub, HubError, RepoRevision};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves repository `org/model` at revision `main` like the hub: `resolve` answers with the
/// commit and etag headers and redirects LFS files (`model.safetensors`) to `/cdn/blob`,
/// which honours `Range`; `config.json` is a small non-LFS file; anything else is 404.
/// Records the `Range` header of every GET of the blob.
struct Server {
    endpoint: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

const CONFIG: &[u8] = b"{\"model_type\": \"toy\"}";
const CONFIG_BLOB_ID: &str = "9f1c2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b";

fn respond(body: &[u8], range: Option<&str>, extra: &str) -> Vec<u8> {
    let len = body.len();
    let (status, start, end) = match range.and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (s, e) = r.split_once('-').unwrap_or((r, ""));
            let start: usize = s.parse().unwrap_or(0);
            let end: usize = e.parse().map(|e: usize| e + 1).unwrap_or(len);
            ("206 Partial Content", start.min(len), end.min(len))
        }
        None => ("200 OK", 0, len),
    };
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{len}\r\n{extra}Connection: close\r\n\r\n",
        end - start,
        end.saturating_sub(1)
    )
    .into_bytes();
    r.extend_from_slice(&body[start..end]);
    r
}

fn serve(content: Vec<u8>, advertised_sha: String) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let base = endpoint.clone();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ranges);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut range = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
                    range = Some(v.trim().to_string());
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let commit = format!("X-Repo-Commit: {COMMIT}\r\n");
            let response: Vec<u8> = match path {
                "/org/model/resolve/main/model.safetensors" => format!(
                    "HTTP/1.1 302 Found\r\nLocation: {base}/cdn/blob\r\n{commit}X-Linked-Etag: \"{advertised_sha}\"\r\nX-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    content.len()
                )
                .into_bytes(),
                "/cdn/blob" => {
                    if range.as_deref() != Some("bytes=0-0") {
                        seen.lock().unwrap().push(range.clone());
                    }
                    respond(&content, range.as_deref(), "")
                }
                "/org/model/resolve/main/config.json" => respond(
                    CONFIG,
                    range.as_deref(),
                    &format!("{commit}ETag: \"{CONFIG_BLOB_ID}\"\r\n"),
                ),
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    Server { endpoint, ranges }
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn content() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn org_model() -> RepoRevision {
    RepoRevision::parse("org/model").unwrap()
}

#[test]
fn downloads_into_the_hf_layout_resuming_a_partial_blob() {
    let data = content();
    let sha = sha_hex(&data);
    let server = serve(data.clone(), sha.clone());
    let dir = tempfile::tempdir().unwrap();
    let cache = HfCache::new(dir.path());
    let blobs = dir.path().join("models--org--model/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(format!("{sha}.part")), &data[..75_000]).unwrap();

    let mut last = (String::new(), 0, None);
    let snapshot = Hub::new(&server.endpoint, cache.clone())
        .fetch(
            &org_model(),
            &["config.json", "model.safetensors"],
            &mut |file, done, total| last = (file.to_string(), done, total),
        )
        .unwrap();

    // The layout Python's huggingface_hub writes and reads.
    let repo = dir.path().join("models--org--model");
    assert_eq!(snapshot, repo.join("snapshots").join(COMMIT));
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(
        std::fs::read(snapshot.join("model.safetensors")).unwrap(),
        data
    );
    assert_eq!(std::fs::read(snapshot.join("config.json")).unwrap(), CONFIG);
    assert!(repo.join("blobs").join(&sha).is_file());
    assert!(repo.join("blobs").join(CONFIG_BLOB_ID).is_file());
    assert!(!repo.join("blobs").join(format!("{sha}.part")).exists());
    // Only the missing tail was requested.
    assert_eq!(
        server.ranges.lock().unwrap().as_slice(),
        [Some("bytes=75000-".to_string())]
    );
    assert_eq!(
        last,
        (
            "model.safetensors".into(),
            data.len() as u64,
            Some(data.len() as u64)
        )
    );

    // Found in the cache from now on, without the server.
    let files = ["config.json", "model.safetensors"];
    assert_eq!(cache.snapshot(&org_model(), &files), Some(snapshot.clone()));
    let again = Hub::new("http://127.0.0.1:1", cache)
        .fetch(&org_model(), &files, &mut |_, _, _| {})
        .unwrap();
    assert_eq!(again, snapshot);
}

#[test]
fn refuses_a_blob_whose_sha256_does_not_match_its_name() {
    let data = content();
    let wrong = sha_hex(b"something else");
    let server = serve(data.clone(), wrong.clone());
    let dir = tempfile::tempdir().unwrap();
    let err = Hub::new(&server.endpoint, HfCache::new(dir.path()))
        .fetch(&org_model(), &["model.safetensors"], &mut |_, _, _| {})
        .unwrap_err();
    assert!(matches!(err, HubError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&sha_hex(&data)), "{err}");
    let repo = dir.path().join("models--org--model");
    assert!(!repo.join("blobs").join(&wrong).exists());
    assert!(!repo
        .join("snapshots")
        .join(COMMIT)
        .join("model.safetensors")
        .exists());
}

#[test]
fn a_missing_file_is_a_clear_404_and_no_server_is_offline() {
    let server = serve(content(), String::new());
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::new(&server.endpoint, HfCache::new(dir.path()));
    let err = hub
        .fetch(&org_model(), &["nope.json"], &mut |_, _, _| {})
        .unwrap_err();
    assert!(matches!(err, HubError::Status { status: 404, .. }), "{err}");
    assert!(err
        .to_string()
        .contains("no such repository, revision or file"));
    assert!(!err.is_offline());

    let offline = Hub::new("http://127.0.0.1:1", HfCache::new(dir.path()))
        .fetch(&org_model(), &["config.json"], &mut |_, _, _| {})
        .unwrap_err();
    assert!(offline.is_offline(), "{offline}");
}

/// Builds what `huggingface_hub` leaves on disk: blobs named by etag, a snapshot of symlinks,
/// a ref.
fn python_style_cache(root: &Path, repo: &str, commit: &str, files: &[(&str, &[u8])]) {
    let dir = root.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = dir.join("snapshots").join(commit);
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    std::fs::create_dir_all(dir.join("refs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    for (name, bytes) in files {
        let blob = sha_hex(bytes);
        std::fs::write(dir.join("blobs").join(&blob), bytes).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snapshot.join(name)).unwrap();
        #[cfg(not(unix))]
        std::fs::write(snapshot.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join("refs").join("main"), commit).unwrap();
}

#[test]
fn finds_a_snapshot_by_branch_or_commit_and_reports_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    python_style_cache(
        dir.path(),
        "owner/name",
        COMMIT,
        &[("config.json", b"{}"), ("model.safetensors", b"weights")],
    );
    let cache = HfCache::new(dir.path());
    let main = RepoRevision::parse("owner/name").unwrap();
    let by_commit = RepoRevision::parse(&format!("owner/name@{COMMIT}")).unwrap();
    let expected = dir
        .path()
        .join("models--owner--name/snapshots")
        .join(COMMIT);
    let files = ["config.json", "model.safetensors"];
    assert_eq!(cache.snapshot(&main, &files), Some(expected.clone()));
    assert_eq!(cache.snapshot(&by_commit, &files), Some(expected));
    assert_eq!(
        cache.missing(&main, &["config.json", "tokenizer.json"]),
        ["tokenizer.json"]
    );
    assert_eq!(cache.snapshot(&main, &["tokenizer.json"]), None);
    let other_branch = RepoRevision::parse("owner/name@dev").unwrap();
    assert_eq!(cache.snapshot(&other_branch, &files), None);
    assert_eq!(cache.missing(&other_branch, &files), files);
}
