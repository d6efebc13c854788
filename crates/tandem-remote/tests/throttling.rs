//! Client-side adaptive throttling end to end: the request rate the server sees drops during a
//! storm of 429s and recovers after it. Time is a manual clock that the server advances by
//! 10 ms per served request (its service time) and the client advances by its waits, so rates
//! are counted in clock time, never measured in real time.
//!
//! As in Beam (and the SRE book), requests the throttler holds back count as requests, so
//! while nothing is accepted the hold probability stays near `holds / (holds + 1)` and the
//! client probes the service about once per window; the first accepted requests then bring
//! it down quickly. With a 1 s window that takes a second or two after the storm ends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{batches, engine, Reply, TestServer};
use tandem_handler::ManualClock;
use tandem_remote::{
    InferTensor, KServeV2, RemoteConfig, RemoteModelHandler, RemoteStats, ThrottleConfig,
};

const STORM: (f64, f64) = (1.0, 3.0);
const END: f64 = 9.0;

struct Run {
    arrivals: Vec<f64>,
    stats: RemoteStats,
    served: usize,
    dead: usize,
}

impl Run {
    /// Requests per clock second that reached the server in `[from, to)`.
    fn rate(&self, from: f64, to: f64) -> f64 {
        self.arrivals
            .iter()
            .filter(|&&t| t >= from && t < to)
            .count() as f64
            / (to - from)
    }
}

/// One element per batch, pushed back to back until the clock reaches `END` seconds.
fn run(overload_ratio: f64) -> Run {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::from_millis(10), |_, at, _| {
        let t = at.as_secs_f64();
        if t >= STORM.0 && t < STORM.1 {
            Reply::Status(429, None)
        } else {
            Reply::Ok
        }
    });
    let handler = Arc::new(
        RemoteModelHandler::new(server.base_url(), KServeV2::new("toy"))
            .with_config(RemoteConfig {
                num_retries: 3,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(400),
                timeout: Duration::from_secs(5),
                throttle: ThrottleConfig {
                    window: Duration::from_secs(1),
                    bucket: Duration::from_millis(100),
                    overload_ratio,
                    delay: Duration::from_millis(100),
                    seed: 7,
                },
                headers: Vec::new(),
            })
            .with_batch_config(batches(1))
            .with_clock(Arc::new(clock.clone())),
    );
    let (mut engine, _) = engine(handler.clone(), &clock);
    let (mut served, mut dead) = (0, 0);
    let mut pushed = 0;
    while clock.elapsed().as_secs_f64() < END {
        assert!(pushed < 5000, "bounded: the clock must advance");
        let out = engine.push(vec![InferTensor::fp32("x", vec![pushed as f32])]);
        served += out.results.len();
        dead += out.dead_letters.len();
        pushed += 1;
    }
    let out = engine.flush();
    served += out.results.len();
    dead += out.dead_letters.len();
    assert_eq!(served + dead, pushed, "every element leaves once");
    Run {
        arrivals: server.log().iter().map(|a| a.at.as_secs_f64()).collect(),
        stats: handler.metrics().snapshot(),
        served,
        dead,
    }
}

#[test]
fn request_rate_drops_under_429s_and_recovers() {
    let throttled = run(2.0);
    let per_half: Vec<usize> = (0..(END * 2.0) as usize)
        .map(|i| {
            let from = i as f64 * 0.5;
            throttled
                .arrivals
                .iter()
                .filter(|&&t| t >= from && t < from + 0.5)
                .count()
        })
        .collect();
    eprintln!("requests per half clock second: {per_half:?}");
    let healthy = throttled.rate(0.0, STORM.0);
    let storm = throttled.rate(STORM.0 + 0.5, STORM.1);
    let recovered = throttled.rate(END - 2.0, END - 0.5);
    eprintln!(
        "requests per clock second: before {healthy:.1}, during the storm {storm:.1}, after {recovered:.1}; {:?}",
        throttled.stats
    );
    assert!(
        (95.0..=100.0).contains(&healthy),
        "one 10 ms request after another: {healthy}"
    );
    assert!(
        storm < healthy / 10.0,
        "the rate drops under 429s: {storm} vs {healthy}"
    );
    assert!(
        recovered >= 0.9 * healthy,
        "and recovers: {recovered} vs {healthy}"
    );
    assert!(throttled.stats.throttled > 0 && throttled.stats.throttled_seconds > 0.0);
    assert!(throttled.dead > 0 && throttled.served > 0);

    // The same storm with the throttler switched off (K infinite): only back-off slows
    // the client, and it sends more requests into the storm.
    let unthrottled = run(f64::INFINITY);
    assert_eq!(unthrottled.stats.throttled, 0);
    let storm_unthrottled = unthrottled.rate(STORM.0 + 0.5, STORM.1);
    eprintln!("without throttling, during the storm: {storm_unthrottled:.1}");
    assert!(
        storm < storm_unthrottled,
        "throttling sends fewer requests into the storm: {storm} vs {storm_unthrottled}"
    );
}
