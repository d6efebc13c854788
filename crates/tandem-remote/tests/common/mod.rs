//! A small inference server for the tests, on `127.0.0.1` (std `TcpListener`, one thread per
//! connection, HTTP/1.1 with `Connection: close`). It speaks just enough KServe v2 and
//! OpenAI embeddings for the handler, and replies as a test script says (OK, an error status,
//! or no answer at all), logging every request. Bounded: it stops when dropped, and a
//! connection left unanswered is closed by then too.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use tandem_handler::{
    BatchConfig, DeadLetter, EngineOptions, InferenceEngine, ManualClock, ModelHandler,
    ModelManager, ModelStats, PredictionResult,
};

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Serve it (the toy model below).
    Ok,
    /// Answer with this status (and `Retry-After` seconds, if set).
    Status(u16, Option<u64>),
    /// Read the request and never answer (until the server stops).
    Hang,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The manual clock's reading when it arrived.
    pub at: Duration,
    /// Rows in the request (examples in the batch).
    pub rows: usize,
    /// What was answered.
    pub reply: Reply,
}

type Script = Box<dyn FnMut(usize, Duration, &Value) -> Reply + Send>;

struct Shared {
    script: Mutex<Script>,
    log: Mutex<Vec<Arrival>>,
    stop: AtomicBool,
    clock: ManualClock,
    /// Manual time each served request takes (its service time), for rate measurements.
    service_time: Duration,
}

/// The test server. Dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server that replies by `script(request number, clock reading, JSON body)`;
    /// each served request advances `clock` by `service_time`.
    pub fn start(
        clock: ManualClock,
        service_time: Duration,
        script: impl FnMut(usize, Duration, &Value) -> Reply + Send + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            script: Mutex::new(Box::new(script)),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            clock,
            service_time,
        });
        let accept_shared = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, accept_shared));
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Arrival> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                workers.push(std::thread::spawn(move || serve(stream, &shared)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Reads one HTTP request: (path, headers, body).
fn read_request(stream: &mut TcpStream) -> Option<(String, String, String)> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[header_end..header_end + length]).to_string();
    Some((path, head, body))
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some((path, head, body)) = read_request(&mut stream) else {
        return;
    };
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let rows = count_rows(&json);
    let (reply, at) = {
        let mut log = shared.log.lock().unwrap_or_else(PoisonError::into_inner);
        let at = shared.clock.elapsed();
        let mut script = shared.script.lock().unwrap_or_else(PoisonError::into_inner);
        let reply = script(log.len(), at, &json);
        log.push(Arrival {
            at,
            rows,
            reply: reply.clone(),
        });
        (reply, at)
    };
    let _ = at;
    let (status, extra, text) = match reply {
        Reply::Hang => {
            // Hold the connection without answering until the server stops (bounded: 5 s).
            for _ in 0..500 {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        Reply::Status(code, retry_after) => (
            code,
            retry_after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n")),
            json!({"error": format!("scripted {code}")}).to_string(),
        ),
        Reply::Ok => {
            shared.clock.advance(shared.service_time);
            match answer(&path, &head, &json) {
                Ok(v) => (200, String::new(), v.to_string()),
                Err(e) => (400, String::new(), json!({ "error": e }).to_string()),
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn count_rows(json: &Value) -> usize {
    if let Some(inputs) = json.get("inputs").and_then(Value::as_array) {
        return inputs
            .first()
            .and_then(|i| i["shape"][0].as_u64())
            .unwrap_or(0) as usize;
    }
    json.get("input")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// The toy models. KServe `/v2/models/toy/infer`: input `x` FP32 `[n, d]` -> output `y` FP32
/// `[n, 1]` = `2 * sum(row) + 1`; a row holding -999 is rejected (400). OpenAI `/v1/embeddings`:
/// each text -> `[chars, count of 'a']`, answered in reverse order (the client sorts by index);
/// it wants the header `Authorization: Bearer test-key`.
fn answer(path: &str, head: &str, json: &Value) -> Result<Value, String> {
    if path == "/v2/models/toy/infer" {
        let input = &json["inputs"][0];
        if input["name"] != "x" || input["datatype"] != "FP32" {
            return Err(format!("unexpected input {input}"));
        }
        let n = input["shape"][0].as_u64().ok_or("no shape")? as usize;
        let d = input["shape"][1].as_u64().ok_or("no shape")? as usize;
        let data: Vec<f64> = input["data"]
            .as_array()
            .ok_or("no data")?
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        if data.len() != n * d {
            return Err("data length".into());
        }
        if data.contains(&-999.0) {
            return Err("row holds the rejected value -999".into());
        }
        let y: Vec<f64> = data
            .chunks(d)
            .map(|r| 2.0 * r.iter().sum::<f64>() + 1.0)
            .collect();
        return Ok(json!({
            "model_name": "toy",
            "outputs": [{"name": "y", "shape": [n, 1], "datatype": "FP32", "data": y}]
        }));
    }
    if path == "/v1/embeddings" {
        if !head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("authorization: bearer test-key"))
        {
            return Err("missing the API key header".into());
        }
        let texts = json["input"].as_array().ok_or("no input")?;
        let mut data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let s = t.as_str().unwrap_or("");
                json!({"object": "embedding", "index": i,
                       "embedding": [s.chars().count() as f64, s.matches('a').count() as f64]})
            })
            .collect();
        data.reverse();
        return Ok(json!({"object": "list", "data": data, "model": json["model"]}));
    }
    Err(format!("no route {path}"))
}

/// What the toy KServe model answers for `row`.
pub fn toy(row: &[f32]) -> f32 {
    2.0 * row.iter().sum::<f32>() + 1.0
}

type Outcome<H> = (
    Vec<PredictionResult<<H as ModelHandler>::Example, <H as ModelHandler>::Prediction>>,
    Vec<DeadLetter<<H as ModelHandler>::Example>>,
);

/// An engine over `handler` with the manual `clock` and a private registry.
pub fn engine<H: ModelHandler<Args = ()>>(
    handler: Arc<H>,
    clock: &ManualClock,
) -> (InferenceEngine<H>, tandem_handler::InferenceMetrics) {
    let options = EngineOptions::new("remote")
        .with_clock(Arc::new(clock.clone()))
        .with_manager(Arc::new(ModelManager::new()));
    let metrics = options.metrics.clone();
    (
        InferenceEngine::new(handler, (), options).expect("valid config"),
        metrics,
    )
}

/// Pushes every example and flushes; returns results, dead letters and the engine's counters.
pub fn run_all<H: ModelHandler<Args = ()>>(
    handler: Arc<H>,
    clock: &ManualClock,
    examples: Vec<H::Example>,
) -> (Outcome<H>, ModelStats) {
    let (mut engine, metrics) = engine(handler, clock);
    let mut results = Vec::new();
    let mut dead = Vec::new();
    for e in examples {
        engine.push(e).drain_into(&mut results, &mut dead);
    }
    engine.flush().drain_into(&mut results, &mut dead);
    let stats = metrics
        .report()
        .models
        .first()
        .map(|m| m.stats.clone())
        .expect("metrics recorded");
    ((results, dead), stats)
}

/// Batches of at most `max_batch_size`.
pub fn batches(max_batch_size: usize) -> BatchConfig {
    BatchConfig {
        max_batch_size,
        ..Default::default()
    }
}
