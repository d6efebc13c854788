//! The live metrics endpoint (`--metrics-addr 127.0.0.1:9464`): while a run lasts, `GET
//! /metrics` answers with the Prometheus text exposition format (version 0.0.4), encoded by
//! `prometheus-client`:
//!
//! - `tandem_inputs_read_total`, `tandem_results_total`, `tandem_failures_total`: inputs
//!   taken from the source, result records and dead-letter records written so far;
//! - `tandem_inputs_in_flight`: inputs read but not yet written (the depth of the pipeline's
//!   queue, as a user sees it; in shadow mode each input ends as one record per arm);
//! - per RunInference step and model id (labels `step`, `model_id`), from the pipeline's
//!   live inference metrics: `<ns>_inferences_total`, `<ns>_dead_letters_total`,
//!   `<ns>_batches_total`, ... as `tandem_handler::MetricsReport::encode_prometheus` lists
//!   them (`<ns>` is the handler's metrics namespace).
//!
//! The server is a plain blocking `std::net` listener on its own thread: one short request
//! per scrape needs no async runtime.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tandem_pipeline::LiveInferenceMetrics;

use crate::error::CliError;

/// The run's own counters, shared by the pipeline steps that count and the exporter.
#[derive(Debug, Default)]
pub struct RunCounters {
    /// Inputs taken from the source.
    pub read: AtomicU64,
    /// Result records written.
    pub results: AtomicU64,
    /// Dead-letter records written.
    pub failures: AtomicU64,
    /// Records each input ends as (1; 2 in shadow mode).
    pub records_per_input: AtomicU64,
}

impl RunCounters {
    /// Inputs read and not yet written: `read − (results + failures) / records_per_input`,
    /// never below 0.
    pub fn in_flight(&self) -> u64 {
        let per = self.records_per_input.load(Ordering::Relaxed).max(1);
        let done = (self.results.load(Ordering::Relaxed) + self.failures.load(Ordering::Relaxed))
            .div_ceil(per);
        self.read.load(Ordering::Relaxed).saturating_sub(done)
    }
}

/// What a scrape reads: the counters and, once the pipeline is built, its inference metrics.
#[derive(Debug, Default)]
struct Sources {
    counters: Arc<RunCounters>,
    inference: Mutex<Option<LiveInferenceMetricsDebug>>,
}

/// [`LiveInferenceMetrics`] with the `Debug` that `Collector` requires.
struct LiveInferenceMetricsDebug(LiveInferenceMetrics);

impl std::fmt::Debug for LiveInferenceMetricsDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveInferenceMetrics")
    }
}

#[derive(Debug)]
struct RunCollector(Arc<Sources>);

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for RunCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let c = &self.0.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut enc,
            "tandem_inputs_read",
            "Inputs taken from the source.",
            load(&c.read),
        )?;
        counter(
            &mut enc,
            "tandem_results",
            "Result records written.",
            load(&c.results),
        )?;
        counter(
            &mut enc,
            "tandem_failures",
            "Dead-letter records written.",
            load(&c.failures),
        )?;
        let g = ConstGauge::new(c.in_flight() as i64);
        g.encode(enc.encode_descriptor(
            "tandem_inputs_in_flight",
            "Inputs read and not yet written.",
            None,
            g.metric_type(),
        )?)?;
        let live = self
            .0
            .inference
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = live.as_ref() {
            live.0.report().encode_prometheus(&mut enc)?;
        }
        Ok(())
    }
}

/// The endpoint of one run: serves until dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    sources: Arc<Sources>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0: any free port; see [`Self::addr`]) and serves `GET /metrics`
    /// from a background thread.
    ///
    /// # Errors
    /// [`CliError::Argument`] naming `--metrics-addr` when the address cannot be bound.
    pub fn start(addr: SocketAddr, counters: Arc<RunCounters>) -> Result<Self, CliError> {
        let listener = TcpListener::bind(addr).map_err(|e| CliError::Argument {
            option: "--metrics-addr",
            reason: format!("cannot listen on {addr}: {e}"),
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let sources = Arc::new(Sources {
            counters,
            inference: Mutex::new(None),
        });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RunCollector(Arc::clone(&sources))));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tandem-metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        if let Err(e) = answer(stream, &registry) {
                            tracing::debug!("metrics request failed: {e}");
                        }
                    }
                }
            })
            .map_err(|e| CliError::Argument {
                option: "--metrics-addr",
                reason: format!("cannot start the metrics thread: {e}"),
            })?;
        tracing::info!("serving Prometheus metrics at http://{addr}/metrics");
        Ok(MetricsServer {
            addr,
            sources,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (the actual port when started with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds the pipeline's inference metrics to what the endpoint serves.
    pub fn attach(&self, live: LiveInferenceMetrics) {
        *self
            .sources
            .inference
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(LiveInferenceMetricsDebug(live));
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request; answers `GET /metrics` with the exposition, anything else with 404.
fn answer(stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = if method == "GET" && path == "/metrics" {
        let mut body = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut body, registry)
            .map_err(std::io::Error::other)?;
        (
            "200 OK",
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            body,
        )
    } else {
        (
            "404 Not Found",
            "text/plain",
            String::from("try /metrics\n"),
        )
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_counters_as_prometheus_text() {
        let counters = Arc::new(RunCounters::default());
        counters.records_per_input.store(1, Ordering::Relaxed);
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), counters.clone()).unwrap();
        counters.read.store(5, Ordering::Relaxed);
        counters.results.store(2, Ordering::Relaxed);
        counters.failures.store(1, Ordering::Relaxed);
        let page = get(server.addr(), "/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("text/plain; version=0.0.4"), "{page}");
        assert!(page.contains("\ntandem_inputs_read_total 5\n"), "{page}");
        assert!(page.contains("\ntandem_results_total 2\n"), "{page}");
        assert!(page.contains("\ntandem_failures_total 1\n"), "{page}");
        assert!(page.contains("\ntandem_inputs_in_flight 2\n"), "{page}");
        assert!(get(server.addr(), "/other").starts_with("HTTP/1.1 404"));
        let addr = server.addr();
        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "the endpoint ends with the run"
        );
    }

    #[test]
    fn an_address_in_use_is_a_clear_argument_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = MetricsServer::start(taken.local_addr().unwrap(), Arc::default())
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("--metrics-addr: cannot listen on 127.0.0.1:"),
            "{err}"
        );
    }

    #[test]
    fn in_flight_counts_inputs_not_records() {
        let c = RunCounters::default();
        c.records_per_input.store(2, Ordering::Relaxed);
        c.read.store(3, Ordering::Relaxed);
        c.results.store(3, Ordering::Relaxed);
        // Three records of two per input: two inputs have at least one record, one is in flight.
        assert_eq!(c.in_flight(), 1);
    }
}
