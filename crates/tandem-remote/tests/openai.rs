//! RemoteModelHandler over OpenAI-compatible embeddings against the local server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{batches, run_all, Reply, TestServer};
use tandem_handler::ManualClock;
use tandem_remote::{OpenAiEmbeddings, RemoteConfig, RemoteModelHandler};

#[test]
fn embeddings_are_batched_and_put_back_in_input_order() {
    let clock = ManualClock::new();
    // One 503 first: the embeddings path retries like any other.
    let server = TestServer::start(clock.clone(), Duration::ZERO, |n, _, _| {
        if n == 0 {
            Reply::Status(503, None)
        } else {
            Reply::Ok
        }
    });
    let handler = Arc::new(
        RemoteModelHandler::new(
            format!("{}/v1", server.base_url()),
            OpenAiEmbeddings::new("toy-embed"),
        )
        .with_config(RemoteConfig {
            num_retries: 1,
            initial_backoff: Duration::from_millis(10),
            headers: vec![("Authorization".into(), "Bearer test-key".into())],
            ..RemoteConfig::default()
        })
        .with_batch_config(batches(2))
        .with_clock(Arc::new(clock.clone())),
    );
    let texts: Vec<String> = ["a", "banana", "cab", "", "aaaa"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ((results, dead), stats) = run_all(handler.clone(), &clock, texts.clone());
    assert!(dead.is_empty(), "{dead:?}");
    // The server answers each batch in reverse order; the handler sorts by `index`.
    for (r, t) in results.iter().zip(&texts) {
        assert_eq!(&r.example, t);
        assert_eq!(
            r.inference,
            vec![t.chars().count() as f32, t.matches('a').count() as f32]
        );
    }
    let rows: Vec<usize> = server.log().iter().map(|a| a.rows).collect();
    assert_eq!(
        rows,
        vec![2, 2, 2, 1],
        "the first batch twice (503, then served)"
    );
    assert_eq!(handler.metrics().snapshot().retries, 1);
    assert_eq!(stats.inferences, 5);
}
