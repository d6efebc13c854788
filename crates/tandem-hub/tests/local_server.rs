//! The downloader against a tiny HTTP server on 127.0.0.1 started inside the test: resume
//! with `Range`, sha256 verification, and clear errors. No real host is contacted.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tandem_hub::{Hub, HubError};

/// Serves one LFS-style file at `/org/model/resolve/main/model.safetensors` (a redirect to
/// `/cdn/blob`, like the hub), and 404 for anything else. Records each request's Range header.
struct Server {
    endpoint: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

fn serve(content: Vec<u8>, advertised_sha: String) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
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
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let head = method == "HEAD";
            let response: Vec<u8> = if path == "/org/model/resolve/main/model.safetensors" {
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: /cdn/blob\r\nX-Linked-Etag: \"{advertised_sha}\"\r\nX-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    content.len()
                )
                .into_bytes()
            } else if path == "/cdn/blob" {
                if !head {
                    seen.lock().unwrap().push(range.clone());
                }
                let start: usize = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.trim_end_matches('-').parse().ok())
                    .unwrap_or(0)
                    .min(content.len());
                let body = &content[start..];
                let status = if start > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let mut r = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if !head {
                    r.extend_from_slice(body);
                }
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
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

#[test]
fn resumes_a_partial_download_with_a_range_request_and_verifies_it() {
    let data = content();
    let server = serve(data.clone(), sha_hex(&data));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("model.safetensors");
    std::fs::write(dir.path().join("model.safetensors.part"), &data[..75_000]).unwrap();
    let mut last = 0;
    Hub::with_endpoint(&server.endpoint)
        .fetch_file(
            "org/model",
            "main",
            "model.safetensors",
            &dest,
            &mut |_, done, total| {
                assert_eq!(total, Some(data.len() as u64));
                last = done;
            },
        )
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(last, data.len() as u64);
    assert_eq!(
        server.ranges.lock().unwrap().as_slice(),
        [Some("bytes=75000-".to_string())]
    );
    assert!(!dir.path().join("model.safetensors.part").exists());
}

#[test]
fn refuses_a_file_whose_sha256_does_not_match_the_lfs_metadata() {
    let data = content();
    let server = serve(data.clone(), sha_hex(b"something else"));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("model.safetensors");
    let err = Hub::with_endpoint(&server.endpoint)
        .fetch_file(
            "org/model",
            "main",
            "model.safetensors",
            &dest,
            &mut |_, _, _| {},
        )
        .unwrap_err();
    assert!(matches!(err, HubError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&sha_hex(&data)));
    assert!(!dest.exists() && !dir.path().join("model.safetensors.part").exists());
}

#[test]
fn a_missing_file_is_a_clear_404_and_no_server_is_offline() {
    let server = serve(content(), String::new());
    let dir = tempfile::tempdir().unwrap();
    let err = Hub::with_endpoint(&server.endpoint)
        .fetch_file(
            "org/model",
            "main",
            "nope.json",
            &dir.path().join("nope.json"),
            &mut |_, _, _| {},
        )
        .unwrap_err();
    assert!(matches!(err, HubError::Status { status: 404, .. }), "{err}");
    assert!(err
        .to_string()
        .contains("no such repository, revision or file"));
    assert!(!err.is_offline());

    let offline = Hub::with_endpoint("http://127.0.0.1:1")
        .fetch_file(
            "org/model",
            "main",
            "config.json",
            &dir.path().join("c.json"),
            &mut |_, _, _| {},
        )
        .unwrap_err();
    assert!(offline.is_offline(), "{offline}");
}
