//! RemoteModelHandler over KServe v2 against a real local server: batching, retries, dead
//! letters, timeouts and metrics. Waits are on a manual clock, so the tests count, not sleep
//! (only the timeout test waits real time, twice 200 ms).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{batches, run_all, toy, Reply, TestServer};
use tandem_handler::{HandlerError, ManualClock};
use tandem_remote::{
    tensor, InferTensor, InferTensors, KServeV2, RemoteConfig, RemoteModelHandler,
};

fn rows(n: usize) -> Vec<InferTensors> {
    (0..n)
        .map(|i| vec![InferTensor::fp32("x", vec![i as f32, 0.5, -1.0])])
        .collect()
}

fn config(num_retries: u32) -> RemoteConfig {
    RemoteConfig {
        num_retries,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        ..RemoteConfig::default()
    }
}

fn handler(
    server: &TestServer,
    clock: &ManualClock,
    num_retries: u32,
    max_batch: usize,
) -> RemoteModelHandler<KServeV2> {
    RemoteModelHandler::new(server.base_url(), KServeV2::new("toy"))
        .with_config(config(num_retries))
        .with_batch_config(batches(max_batch))
        .with_clock(Arc::new(clock.clone()))
}

/// All manual time passed was back-off or throttling (the server's service time is zero).
fn assert_waited(clock: &ManualClock, remote: &tandem_remote::RemoteStats) {
    let waited = remote.backoff_seconds + remote.throttled_seconds;
    assert!(
        (clock.elapsed().as_secs_f64() - waited).abs() < 1e-9,
        "{:?} vs {remote:?}",
        clock.elapsed()
    );
    assert_eq!(
        remote.throttled_seconds, remote.throttled as f64,
        "1 s per hold"
    );
}

fn y(prediction: &InferTensors) -> f32 {
    let t = tensor(prediction, "y").expect("output y");
    assert_eq!(t.shape, vec![1]);
    t.as_fp32().expect("FP32")[0]
}

#[test]
fn each_batch_is_one_request_and_predictions_come_back_in_order() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| Reply::Ok);
    let handler = Arc::new(handler(&server, &clock, 0, 4));
    let examples = rows(10);
    let ((results, dead), stats) = run_all(handler.clone(), &clock, examples.clone());
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results.len(), 10);
    for (r, e) in results.iter().zip(&examples) {
        assert_eq!(&r.example, e);
        assert_eq!(y(&r.inference), toy(e[0].as_fp32().expect("fp32")));
    }
    let sizes: Vec<usize> = server.log().iter().map(|a| a.rows).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    let remote = handler.metrics().snapshot();
    assert_eq!(
        (remote.requests, remote.successes, remote.retries),
        (3, 3, 0)
    );
    assert_eq!(
        (stats.batches, stats.inferences, stats.dead_letters),
        (3, 10, 0)
    );
}

#[test]
fn retryable_errors_are_retried_with_doubling_backoff() {
    let clock = ManualClock::new();
    // First two requests: 503, then 429; then served.
    let server = TestServer::start(clock.clone(), Duration::ZERO, |n, _, _| match n {
        0 | 1 => Reply::Status(503, None),
        2 => Reply::Status(429, None),
        _ => Reply::Ok,
    });
    let handler = Arc::new(handler(&server, &clock, 3, 4));
    let ((results, dead), stats) = run_all(handler.clone(), &clock, rows(4));
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results.len(), 4);
    assert_eq!(server.log().len(), 4, "1 try + 3 retries");
    let remote = handler.metrics().snapshot();
    assert_eq!(
        (remote.retries, remote.server_errors, remote.rate_limited),
        (3, 2, 1)
    );
    // 100 + 200 + 400 ms of back-off, plus whatever the throttler held back (1 s per hold),
    // all on the manual clock.
    assert!((remote.backoff_seconds - 0.7).abs() < 1e-9, "{remote:?}");
    assert_waited(&clock, &remote);
    assert_eq!(
        stats.failed_batches, 0,
        "the engine saw one successful call"
    );
}

#[test]
fn retry_after_from_the_service_is_honoured() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |n, _, _| {
        if n == 0 {
            Reply::Status(429, Some(7))
        } else {
            Reply::Ok
        }
    });
    let handler = Arc::new(handler(&server, &clock, 2, 4));
    let ((results, _), _) = run_all(handler.clone(), &clock, rows(2));
    assert_eq!(results.len(), 2);
    let remote = handler.metrics().snapshot();
    assert_eq!(
        remote.backoff_seconds, 7.0,
        "Retry-After: 7 beats the 100 ms back-off"
    );
    assert_waited(&clock, &remote);
}

#[test]
fn a_503_storm_dead_letters_whole_batches_without_bisecting() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| {
        Reply::Status(503, None)
    });
    let handler = Arc::new(handler(&server, &clock, 2, 4));
    let ((results, dead), stats) = run_all(handler.clone(), &clock, rows(8));
    assert!(results.is_empty());
    assert_eq!(dead.len(), 8, "every element leaves as a dead letter");
    // Two batches, three attempts each: no bisection halves hammering a down service.
    assert_eq!(server.log().len(), 6);
    match &dead[0].error {
        HandlerError::Unavailable { reason } => {
            assert!(
                reason.contains("HTTP 503") && reason.contains("after 2 retries"),
                "{reason}"
            )
        }
        other => panic!("expected Unavailable, got {other}"),
    }
    let remote = handler.metrics().snapshot();
    assert_eq!(
        (remote.requests, remote.server_errors, remote.failed_batches),
        (6, 6, 2)
    );
    assert_eq!((stats.dead_letters, stats.failed_batches), (8, 2));
}

#[test]
fn a_rejected_example_is_isolated_by_bisection() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| Reply::Ok);
    let handler = Arc::new(handler(&server, &clock, 3, 8));
    let mut examples = rows(8);
    examples[5] = vec![InferTensor::fp32("x", vec![-999.0, 0.0, 0.0])];
    let ((results, dead), _) = run_all(handler.clone(), &clock, examples.clone());
    assert_eq!(results.len(), 7);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].example, examples[5]);
    let text = dead[0].error.to_string();
    assert!(text.contains("HTTP 400") && text.contains("-999"), "{text}");
    let remote = handler.metrics().snapshot();
    assert_eq!(remote.retries, 0, "a 400 is not retried");
    assert_eq!(
        remote.client_errors, 4,
        "8 -> 4 -> 2 -> 1: one failing request per level"
    );
}

#[test]
fn examples_that_cannot_share_a_request_are_split_by_bisection() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| Reply::Ok);
    let handler = Arc::new(handler(&server, &clock, 0, 4));
    let mut examples = rows(4);
    // A different width: cannot be stacked with the others, served on its own.
    examples[1] = vec![InferTensor::fp32("x", vec![1.0, 2.0])];
    let ((results, dead), _) = run_all(handler, &clock, examples);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results.len(), 4);
    let one = results
        .iter()
        .find(|r| r.example[0].shape == vec![2])
        .expect("served");
    assert_eq!(y(&one.inference), 7.0);
}

#[test]
fn a_server_that_stops_answering_times_out_and_dead_letters() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |_, _, _| Reply::Hang);
    let handler = Arc::new(
        RemoteModelHandler::new(server.base_url(), KServeV2::new("toy"))
            .with_config(RemoteConfig {
                timeout: Duration::from_millis(200),
                ..config(1)
            })
            .with_batch_config(batches(4))
            .with_clock(Arc::new(clock.clone())),
    );
    let ((results, dead), _) = run_all(handler.clone(), &clock, rows(3));
    assert!(results.is_empty());
    assert_eq!(dead.len(), 3);
    let text = dead[0].error.to_string();
    assert!(text.contains("did not answer within 200ms"), "{text}");
    let remote = handler.metrics().snapshot();
    assert_eq!(
        (remote.requests, remote.timeouts, remote.retries),
        (2, 2, 1)
    );
    assert_eq!(server.log().len(), 2);
}

#[test]
fn refused_connections_are_retried_then_dead_lettered() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let clock = ManualClock::new();
    let handler = Arc::new(
        RemoteModelHandler::new(format!("http://{addr}"), KServeV2::new("toy"))
            .with_config(config(2))
            .with_batch_config(batches(4))
            .with_clock(Arc::new(clock.clone())),
    );
    let ((results, dead), _) = run_all(handler.clone(), &clock, rows(2));
    assert!(results.is_empty());
    assert_eq!(dead.len(), 2);
    assert!(
        matches!(dead[0].error, HandlerError::Unavailable { .. }),
        "{}",
        dead[0].error
    );
    let remote = handler.metrics().snapshot();
    assert_eq!((remote.requests, remote.connection_errors), (3, 3));
    assert!((remote.backoff_seconds - 0.3).abs() < 1e-9, "{remote:?}");
    assert_waited(&clock, &remote);
}

#[test]
fn metrics_render_as_prometheus_text() {
    let clock = ManualClock::new();
    let server = TestServer::start(clock.clone(), Duration::ZERO, |n, _, _| {
        if n == 0 {
            Reply::Status(429, None)
        } else {
            Reply::Ok
        }
    });
    let handler = Arc::new(handler(&server, &clock, 1, 4));
    let _ = run_all(handler.clone(), &clock, rows(1));
    let text = handler.metrics().to_prometheus("tandem_inference", "toy");
    assert!(
        text.contains("tandem_inference_remote_requests_total{model=\"toy\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("tandem_inference_remote_rate_limited_total{model=\"toy\"} 1"),
        "{text}"
    );
}
