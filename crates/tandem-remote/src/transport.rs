//! One HTTP POST of a JSON body, with the outcome sorted into [`RemoteError`] kinds.

use std::io::Read;
use std::time::Duration;

use crate::error::RemoteError;

/// The longest response body read (a batch of large embeddings fits easily).
const MAX_BODY: u64 = 256 << 20;
/// How much of an error body goes into the error message.
const ERROR_BODY_CHARS: usize = 300;

/// The HTTP client: what `load_model` creates (Beam's `create_client`), shared by all batches.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    timeout: Duration,
    headers: Vec<(String, String)>,
}

impl HttpClient {
    /// A client whose every call (connect, send, read the whole answer) ends within `timeout`,
    /// sending `headers` with each request.
    pub fn new(timeout: Duration, headers: Vec<(String, String)>) -> HttpClient {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout)
            .build();
        HttpClient {
            agent,
            timeout,
            headers,
        }
    }

    /// POSTs `body` (JSON) to `url` and returns the response body of a 2xx answer.
    pub fn post_json(&self, url: &str, body: &str) -> Result<String, RemoteError> {
        let mut request = self.agent.post(url).set("Content-Type", "application/json");
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        match request.send_string(body) {
            Ok(response) => self.read_body(url, response),
            Err(ureq::Error::Status(status, response)) => {
                let retry_after = response
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = self.read_body(url, response).unwrap_or_default();
                Err(RemoteError::Status {
                    url: url.to_string(),
                    status,
                    body: text.chars().take(ERROR_BODY_CHARS).collect(),
                    retry_after,
                })
            }
            Err(ureq::Error::Transport(transport)) => Err(self.transport_error(url, &transport)),
        }
    }

    fn transport_error(&self, url: &str, transport: &ureq::Transport) -> RemoteError {
        let message = transport.to_string();
        let timed_out = std::error::Error::source(transport)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                )
            })
            || message.contains("timed out");
        if timed_out {
            RemoteError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
                message,
            }
        } else {
            RemoteError::Connection {
                url: url.to_string(),
                message,
            }
        }
    }

    fn read_body(&self, url: &str, response: ureq::Response) -> Result<String, RemoteError> {
        let mut text = String::new();
        response
            .into_reader()
            .take(MAX_BODY)
            .read_to_string(&mut text)
            .map_err(|e| {
                let message = e.to_string();
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) {
                    RemoteError::Timeout {
                        url: url.to_string(),
                        timeout: self.timeout,
                        message,
                    }
                } else {
                    RemoteError::Connection {
                        url: url.to_string(),
                        message: format!("reading the answer: {message}"),
                    }
                }
            })?;
        Ok(text)
    }
}
