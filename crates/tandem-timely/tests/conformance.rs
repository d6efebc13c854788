//! The pipeline conformance set on timely-dataflow gives the local runner's results: on one
//! process with two workers, and on three processes with one worker each (child processes of
//! this test binary talking over 127.0.0.1).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use tandem_pipeline::{LocalRunner, Pipeline, RunReport};
use tandem_timely::{Recovery, TimelyRunner};

fn run_local() -> (Vec<String>, RunReport) {
    let p = Pipeline::new();
    let out = support::conformance(&p);
    let report = p
        .run_with(&LocalRunner::new().with_parallelism(3).with_bundle_size(5))
        .expect("local run");
    let mut v = out.take();
    v.sort();
    (v, report)
}

fn counts(r: &RunReport) -> Vec<(String, u64, u64, u64, u64, u64)> {
    r.steps
        .iter()
        .map(|s| {
            let c = (
                s.elements_in,
                s.elements_out,
                s.dead_lettered,
                s.filtered,
                s.written,
            );
            (s.name.clone(), c.0, c.1, c.2, c.3, c.4)
        })
        .collect()
}

#[test]
fn one_process_two_workers_matches_the_local_runner() {
    let (local, local_report) = run_local();
    let p = Pipeline::new();
    let out = support::conformance(&p);
    let report = p
        .run_with(&TimelyRunner::new(2).with_bundle_size(5))
        .expect("timely run");
    let mut got = out.take();
    got.sort();
    assert_eq!(got, local);
    assert!(local.iter().any(|l| l.starts_with("window sum")));
    assert_eq!(local.iter().filter(|l| l.starts_with("served ")).count(), 3);
    assert_eq!(
        local.iter().filter(|l| l.starts_with("refused ")).count(),
        1
    );
    assert_eq!(counts(&report), counts(&local_report));
}

#[test]
fn with_recovery_a_rerun_of_a_finished_run_gives_the_same_results_from_its_logs() {
    let (local, _) = run_local();
    let dir = support::temp_dir("conformance-recovery");
    let run = || {
        let p = Pipeline::new();
        let out = support::conformance(&p);
        // Epochs of 7 positions: groups, combines and the co-group log their state and
        // commit many times over the 300 inputs.
        let runner = TimelyRunner::new(2)
            .with_bundle_size(5)
            .with_recovery(Recovery::new(dir.join("recovery"), 7));
        let report = p.run_with(&runner).expect("timely run with recovery");
        let mut got = out.take();
        got.sort();
        (got, report)
    };
    let (first, _) = run();
    assert_eq!(first, local, "recovery changes no result");
    let (second, report) = run();
    assert_eq!(second, local, "the sink's log holds every result once");
    for step in [
        "Square",
        "Group",
        "Sum",
        "Join",
        "WindowSum",
        "RunInference",
    ] {
        assert_eq!(
            report.step(step).map(|s| s.elements_in),
            Some(0),
            "`{step}` ran again although every epoch was committed"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Run by `three_processes_one_worker_each_match_the_local_runner` in each child process.
#[test]
#[ignore = "a child process of three_processes_one_worker_each_match_the_local_runner"]
fn conformance_cluster_child() {
    let Some((process, addresses)) = support::child_settings() else {
        panic!("run by three_processes_one_worker_each_match_the_local_runner, not directly");
    };
    let p = Pipeline::new();
    let out = support::conformance(&p);
    let runner = TimelyRunner::cluster(1, process, addresses).expect("cluster settings");
    let report = match p.run_with(&runner.with_bundle_size(5)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("process {process}: {e}");
            std::process::exit(1);
        }
    };
    if process == 0 {
        let path = PathBuf::from(std::env::var("TANDEM_TIMELY_OUT").expect("output path"));
        let mut lines = out.take();
        lines.sort();
        std::fs::write(&path, lines.join("\n")).expect("write results");
        std::fs::write(path.with_extension("report"), report_text(&report)).expect("write report");
    }
}

/// What a process-0 report must agree on with the local runner's: every step's counts, the
/// instances of a parallel and of a single-instance step, and the elements RunInference
/// answered or dead-lettered.
fn report_text(r: &RunReport) -> String {
    let workers: Vec<usize> = ["Square", "Out"]
        .iter()
        .filter_map(|name| r.step(name).map(|s| s.workers))
        .collect();
    let answered = r
        .inference
        .step_total("RunInference", |s| s.inferences + s.dead_letters);
    format!("{:?}\nworkers {workers:?}\nanswered {answered}", counts(r))
}

#[test]
fn three_processes_one_worker_each_match_the_local_runner() {
    let (local, local_report) = run_local();
    let dir = support::temp_dir("conformance");
    let out = dir.join("out.txt");
    let mut cluster = support::Cluster::start(
        "conformance_cluster_child",
        3,
        &[("TANDEM_TIMELY_OUT", out.display().to_string())],
    );
    let results = cluster.wait(Duration::from_secs(120));
    for (i, (status, err)) in results.iter().enumerate() {
        assert!(
            status.is_some_and(|s| s.success()),
            "process {i} ended with {status:?}: {err}"
        );
    }
    let text = std::fs::read_to_string(&out).expect("process 0 wrote the results");
    let got: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(got, local);
    // Process 0's report gathers every process's counters and inference metrics. The local
    // run had 3 instances per parallel step (`with_parallelism(3)`), the cluster 3 workers.
    let report = std::fs::read_to_string(out.with_extension("report")).expect("report");
    assert_eq!(report, report_text(&local_report));
    assert!(report.ends_with("answered 4"), "{report}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_single_step_fed_across_processes_needs_a_coder() {
    let p = Pipeline::new();
    let _out = p
        .create(0..3u8)
        .map("Show", |x| format!("{x}"))
        .collect("Out");
    let runner = TimelyRunner::cluster(1, 0, support::free_addresses(2)).expect("settings");
    let err = p.run_with(&runner).expect_err("refused before starting");
    let text = err.to_string();
    assert!(
        text.contains("with_coder") && text.contains("Show"),
        "{text}"
    );
}
