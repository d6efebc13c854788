//! A failure anywhere fails the run everywhere: on one process, and on every process of a
//! cluster (the control dataflow), with the error naming the step and the element.

mod support;

use std::time::Duration;

use tandem_pipeline::{Error, Pipeline};
use tandem_timely::TimelyRunner;

/// Element 57 fails in a step without a dead-letter output.
fn failing(p: &Pipeline) {
    let _ = p
        .create(0..200u32)
        .map("Explode", |x| {
            assert!(x != 57, "element {x} is cursed");
            x
        })
        .with_coder()
        .collect("Out");
}

#[test]
fn an_element_failing_without_dead_letters_fails_the_run() {
    let p = Pipeline::new();
    failing(&p);
    let err = p
        .run_with(&TimelyRunner::new(2))
        .expect_err("the run fails");
    match &err {
        Error::ElementFailed {
            step,
            element,
            message,
        } => {
            assert_eq!((step.as_str(), element.as_str()), ("Explode", "57"));
            assert!(message.contains("element 57 is cursed"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
#[ignore = "a child process of a_failure_on_one_process_fails_every_process"]
fn failing_cluster_child() {
    let Some((process, addresses)) = support::child_settings() else {
        panic!("run by a_failure_on_one_process_fails_every_process, not directly");
    };
    let p = Pipeline::new();
    failing(&p);
    let runner = TimelyRunner::cluster(1, process, addresses).expect("cluster settings");
    match p.run_with(&runner) {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("process {process}: {e}");
            std::process::exit(3);
        }
    }
}

#[test]
fn a_failure_on_one_process_fails_every_process() {
    let mut cluster = support::Cluster::start("failing_cluster_child", 3, &[]);
    let results = cluster.wait(Duration::from_secs(60));
    for (i, (status, err)) in results.iter().enumerate() {
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(3),
            "process {i} should fail with the run's error: {err}"
        );
        assert!(err.contains("element 57 is cursed"), "process {i}: {err}");
    }
}
