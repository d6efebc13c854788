//! A crash of one process (kill -9) makes every other process's run fail, naming the lost
//! peer, within seconds, instead of hanging.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tandem_pipeline::io::EventIter;
use tandem_pipeline::{Error, Pipeline, Source, SourceEvent, Timestamp};
use tandem_timely::TimelyRunner;

/// Each process's share: one element (the process index), then it waits forever.
struct OneThenWait;

impl Source for OneThenWait {
    type Item = usize;
    fn default_name(&self) -> String {
        "OneThenWait".into()
    }
    fn is_bounded(&self) -> bool {
        false
    }
    fn open(self) -> Result<tandem_pipeline::io::ElementIter<usize>, Error> {
        Err(Error::InvalidGraph {
            reason: "OneThenWait is opened with open_split".into(),
        })
    }
    fn open_split(self, worker: usize, _peers: usize) -> Result<EventIter<usize>, Error> {
        let first = std::iter::once(Ok(SourceEvent::Element {
            value: worker,
            timestamp: Timestamp(0),
        }));
        let forever = std::iter::from_fn(|| loop {
            std::thread::park();
        });
        Ok(Box::new(first.chain(forever)))
    }
}

#[test]
#[ignore = "a child process of killing_one_process_fails_the_others_naming_it"]
fn lost_peer_child() {
    let Some((process, addresses)) = support::child_settings() else {
        panic!("run by killing_one_process_fails_the_others_naming_it, not directly");
    };
    let dir = PathBuf::from(std::env::var("TANDEM_TIMELY_DIR").expect("marker dir"));
    let p = Pipeline::new();
    let _ = p
        .read(OneThenWait)
        .map("Mark", move |i| {
            // The element of this process's share arrived: the cluster is connected.
            let _ = std::fs::write(dir.join(format!("ready-{i}")), b"");
            i
        })
        .with_coder()
        .collect("Out");
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
fn killing_one_process_fails_the_others_naming_it() {
    let dir = support::temp_dir("lost-peer");
    let mut cluster = support::Cluster::start(
        "lost_peer_child",
        3,
        &[("TANDEM_TIMELY_DIR", dir.display().to_string())],
    );
    // Liveness guard only: all three are connected once each wrote its marker.
    let guard = Instant::now() + Duration::from_secs(60);
    while (0..3).any(|i| !dir.join(format!("ready-{i}")).exists()) {
        assert!(Instant::now() < guard, "the cluster never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.children[2].kill().expect("kill -9 process 2");
    let _ = cluster.children[2].wait();
    let mut survivors = support::Cluster {
        children: cluster.children.drain(..2).collect(),
    };
    // The bound: every other process exits within 10 s.
    let results = survivors.wait(Duration::from_secs(10));
    for (i, (status, err)) in results.iter().enumerate() {
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(3),
            "process {i} must fail (None: still running after 10 s): {err}"
        );
        assert!(
            err.contains("lost connection to timely process 2"),
            "process {i}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
