//! One file at a time: ask the hub what the file is (`HEAD`), then fetch it with resume and
//! check it against that answer.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cache::ModelSpec;
use crate::error::HubError;

/// Progress of one file: `(file name, bytes so far, total bytes if known)`.
pub type FileProgress<'a> = &'a mut dyn FnMut(&str, u64, Option<u64>);

/// What the hub says about a file before it is downloaded.
#[derive(Debug)]
struct Remote {
    /// Where to GET the bytes (the CDN location for LFS files).
    url: String,
    /// sha256 (hex) of the content, for LFS files.
    sha256: Option<String>,
    /// Content length, when announced.
    size: Option<u64>,
}

/// A Hugging Face Hub client.
#[derive(Clone, Debug)]
pub struct Hub {
    endpoint: String,
    agent: ureq::Agent,
}

impl Default for Hub {
    fn default() -> Self {
        let endpoint =
            std::env::var("HF_ENDPOINT").unwrap_or_else(|_| String::from("https://huggingface.co"));
        Hub::with_endpoint(&endpoint)
    }
}

fn clean_etag(v: &str) -> String {
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

fn is_sha256(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Hub {
    /// A client for the hub at `endpoint` (`https://huggingface.co`, or a test server).
    pub fn with_endpoint(endpoint: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(Duration::from_secs(60))
            .redirects(0)
            .user_agent(concat!("tandem-hub/", env!("CARGO_PKG_VERSION")))
            .build();
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{file}", self.endpoint)
    }

    fn call(&self, req: ureq::Request, url: &str) -> Result<ureq::Response, HubError> {
        match req.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, _)) => {
                let hint = match status {
                    401 | 403 => " (the repository may be gated or private)".to_string(),
                    404 => " (no such repository, revision or file)".to_string(),
                    _ => String::new(),
                };
                Err(HubError::Status {
                    url: url.to_string(),
                    status,
                    hint,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(HubError::Unreachable {
                url: url.to_string(),
                reason: t.to_string(),
            }),
        }
    }

    /// `HEAD` the resolve URL, following redirects by hand so the LFS headers of the first
    /// answer (the hub's, not the CDN's) are kept.
    fn inspect(&self, repo: &str, revision: &str, file: &str) -> Result<Remote, HubError> {
        let mut url = self.resolve_url(repo, revision, file);
        let mut sha256 = None;
        let mut size = None;
        for _ in 0..5 {
            let resp = self.call(
                self.agent.head(&url).set("Accept-Encoding", "identity"),
                &url,
            )?;
            if sha256.is_none() {
                sha256 = resp
                    .header("x-linked-etag")
                    .map(clean_etag)
                    .filter(|e| is_sha256(e));
            }
            if size.is_none() {
                size = resp
                    .header("x-linked-size")
                    .and_then(|s| s.trim().parse().ok());
            }
            if (300..400).contains(&resp.status()) {
                let Some(location) = resp.header("location") else {
                    return Err(HubError::Status {
                        url,
                        status: resp.status(),
                        hint: " (redirect without a location)".into(),
                    });
                };
                url = if location.starts_with('/') {
                    format!("{}{location}", self.endpoint)
                } else {
                    location.to_string()
                };
                continue;
            }
            if size.is_none() {
                size = resp
                    .header("content-length")
                    .and_then(|s| s.trim().parse().ok());
            }
            return Ok(Remote { url, sha256, size });
        }
        Err(HubError::Status {
            url,
            status: 310,
            hint: " (too many redirects)".into(),
        })
    }

    /// Downloads `file` of `repo@revision` to `dest` (resuming `dest.part`), verified.
    pub fn fetch_file(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        dest: &Path,
        progress: FileProgress<'_>,
    ) -> Result<(), HubError> {
        let remote = self.inspect(repo, revision, file)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        }
        let part = part_path(dest);
        let mut have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if remote.size.is_some_and(|s| have > s) {
            have = 0;
        }
        let complete = remote.size == Some(have) && have > 0;
        if !complete {
            self.get_into(&remote, file, &part, have, progress)?;
        }
        verify(&part, file, &remote)?;
        fs::rename(&part, dest).map_err(|e| HubError::io(dest, e))
    }

    fn get_into(
        &self,
        remote: &Remote,
        file: &str,
        part: &Path,
        have: u64,
        progress: FileProgress<'_>,
    ) -> Result<(), HubError> {
        let mut req = self
            .agent
            .get(&remote.url)
            .set("Accept-Encoding", "identity");
        if have > 0 {
            req = req.set("Range", &format!("bytes={have}-"));
        }
        let resp = self.call(req, &remote.url)?;
        // 206: the server continues where we stopped; 200: it ignored the range, start over.
        let (mut out, mut done) = if resp.status() == 206 && have > 0 {
            (
                OpenOptions::new()
                    .append(true)
                    .open(part)
                    .map_err(|e| HubError::io(part, e))?,
                have,
            )
        } else if resp.status() == 200 {
            (File::create(part).map_err(|e| HubError::io(part, e))?, 0)
        } else {
            return Err(HubError::Status {
                url: remote.url.clone(),
                status: resp.status(),
                hint: String::new(),
            });
        };
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        progress(file, done, remote.size);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(HubError::Interrupted {
                        url: remote.url.clone(),
                        reason: e.to_string(),
                    })
                }
            };
            out.write_all(&buf[..n])
                .map_err(|e| HubError::io(part, e))?;
            done += n as u64;
            progress(file, done, remote.size);
        }
        out.flush().map_err(|e| HubError::io(part, e))?;
        if let Some(size) = remote.size {
            if done < size {
                return Err(HubError::Interrupted {
                    url: remote.url.clone(),
                    reason: format!("got {done} of {size} bytes"),
                });
            }
        }
        Ok(())
    }

    /// Fetches every file of `spec` missing from `dir` (created if needed).
    pub fn fetch_model(
        &self,
        spec: &ModelSpec,
        dir: &Path,
        progress: FileProgress<'_>,
    ) -> Result<(), HubError> {
        for file in spec.files {
            let dest = dir.join(file);
            if dest.is_file() {
                continue;
            }
            self.fetch_file(spec.repo, spec.revision, file, &dest, &mut *progress)?;
        }
        Ok(())
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// Checks length and (for LFS files) sha256; a mismatching file is deleted.
fn verify(part: &Path, file: &str, remote: &Remote) -> Result<(), HubError> {
    let len = fs::metadata(part).map_err(|e| HubError::io(part, e))?.len();
    if let Some(size) = remote.size {
        if len != size {
            let _ = fs::remove_file(part);
            return Err(HubError::SizeMismatch {
                file: file.to_string(),
                expected: size,
                actual: len,
            });
        }
    }
    if let Some(expected) = &remote.sha256 {
        let actual = sha256_file(part)?;
        if &actual != expected {
            let _ = fs::remove_file(part);
            return Err(HubError::ChecksumMismatch {
                file: file.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// Hex sha256 of a file's content.
pub(crate) fn sha256_file(path: &Path) -> Result<String, HubError> {
    let mut f = File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
