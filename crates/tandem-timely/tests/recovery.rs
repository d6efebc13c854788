//! Kill and rerun: kill -9 one of three processes after epoch 2 has committed; the others
//! exit non-zero within 10 s; a rerun with the same arguments completes; the sink's output
//! holds every key exactly once; inputs of committed epochs are not processed again. Once
//! with epochs of `EPOCH` inputs, once with epochs ended by time only, and each once more
//! with a windowed group whose open panes must come back from the keyed state.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tandem_pipeline::io::{ElementIter, EventIter};
use tandem_pipeline::{
    BoxError, Error, FixedWindows, Pipeline, Sink, Source, SourceEvent, Timestamp,
};
use tandem_timely::{Recovery, TimelyRunner};

const INPUTS: u64 = 60;
const EPOCH: u64 = 5;
/// Window size of the grouped variant: the crash (at 20 or 23) falls inside `[15, 30)`.
const WINDOW: u64 = 15;
/// Keys of the grouped variant: position modulo this.
const KEYS: u64 = 3;

/// The grouped variant's line for the values of one key in one window.
fn group_line(key: u64, mut values: Vec<u64>) -> String {
    values.sort_unstable();
    let start = values.first().map_or(0, |v| v - v % WINDOW);
    let values: Vec<String> = values.iter().map(u64::to_string).collect();
    format!("w{start}-k{key}: {}", values.join(","))
}

/// Positions `0..INPUTS` split by position; with `block_from`, a share waits forever on
/// reaching that position (the crash happens while it waits).
struct Numbers {
    block_from: Option<u64>,
}

impl Source for Numbers {
    type Item = u64;
    fn default_name(&self) -> String {
        "Numbers".into()
    }
    fn open(self) -> Result<ElementIter<u64>, Error> {
        Err(Error::InvalidGraph {
            reason: "Numbers is opened with open_split".into(),
        })
    }
    fn open_split(self, worker: usize, peers: usize) -> Result<EventIter<u64>, Error> {
        let block = self.block_from.unwrap_or(u64::MAX);
        let peers = peers as u64;
        let events = (worker as u64..INPUTS)
            .step_by(peers as usize)
            .flat_map(move |i| {
                if i >= block {
                    loop {
                        std::thread::park();
                    }
                }
                [
                    Ok(SourceEvent::Element {
                        value: i,
                        timestamp: Timestamp(i),
                    }),
                    Ok(SourceEvent::Watermark(Timestamp(i + peers))),
                ]
            });
        Ok(Box::new(events))
    }
}

/// Writes one line per element to a file it creates.
struct Lines {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Sink<String> for Lines {
    fn open(&mut self) -> Result<(), BoxError> {
        self.file = Some(std::fs::File::create(&self.path)?);
        Ok(())
    }
    fn write(&mut self, line: String) -> Result<(), BoxError> {
        let f = self.file.as_mut().ok_or("not open")?;
        writeln!(f, "{line}")?;
        Ok(())
    }
    fn close(&mut self) -> Result<(), BoxError> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        Ok(())
    }
}

#[test]
#[ignore = "a child process of the kill-and-rerun tests of this file (epochs by count and by time, with and without a group)"]
fn recovery_child() {
    let Some((process, addresses)) = support::child_settings() else {
        panic!("run by the kill-and-rerun tests of this file, not directly");
    };
    let dir = PathBuf::from(std::env::var("TANDEM_TIMELY_DIR").expect("dir"));
    let run = std::env::var("TANDEM_TIMELY_RUN").expect("run number");
    let block_from = std::env::var("TANDEM_TIMELY_BLOCK_FROM")
        .ok()
        .and_then(|b| b.parse().ok());
    let interval = std::env::var("TANDEM_TIMELY_INTERVAL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let grouped = std::env::var("TANDEM_TIMELY_GROUPED").is_ok();
    let seen = dir.join(format!("seen-run{run}-p{process}"));
    let p = Pipeline::new();
    let worked = p.read(Numbers { block_from }).map("Work", move |i| {
        // Records that this input was processed in this run.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&seen)
        {
            let _ = writeln!(f, "{i}");
        }
        i
    });
    let lines: tandem_pipeline::PCollection<String> = if grouped {
        (*worked
            .window_into("Window", FixedWindows::new(WINDOW))
            .map("Key", |i| (i % KEYS, i))
            .group_by_key("Group")
            .map("Show", |(k, values)| group_line(k, values)))
        .clone()
    } else {
        (*worked.map("Show", |i| format!("key-{i}"))).clone()
    };
    lines.with_coder().write(
        "Out",
        Lines {
            path: dir.join("out.txt"),
            file: None,
        },
    );
    let runner = TimelyRunner::cluster(1, process, addresses)
        .expect("cluster settings")
        .with_recovery(match interval {
            None => Recovery::new(dir.join("recovery"), EPOCH),
            Some(interval) => Recovery::new(dir.join("recovery"), u64::MAX).with_interval(interval),
        });
    match p.run_with(&runner) {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("process {process}: {e}");
            std::process::exit(3);
        }
    }
}

/// The least position the manifests say is committed: where a rerun resumes.
fn committed(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir.join("recovery")) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("manifest-"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter_map(|v| v["committed"].as_u64())
        .min()
        .unwrap_or(0)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_run_resumes_after_its_last_committed_epoch() {
    // Every share stops at position 23, so epochs 0..=3 can commit, 4 cannot: wait for
    // epoch 2 (positions below 15).
    kill_and_rerun("recovery", None, false, |committed| committed >= 3 * EPOCH);
}

#[test]
fn a_killed_run_resumes_the_open_groups_from_the_keyed_state() {
    // Every instance commits below 20 at most, inside the window [15, 30): the group's
    // panes of that window hold 15..19, which the rerun's sources skip.
    kill_and_rerun("recovery-grouped", None, true, |committed| {
        committed >= 3 * EPOCH
    });
}

#[test]
fn a_killed_run_with_epochs_ended_by_time_resumes_the_open_groups() {
    kill_and_rerun("recovery-grouped-timed", Some(20), true, |committed| {
        committed == 23
    });
}

#[test]
fn a_killed_run_with_epochs_ended_by_time_resumes_where_it_committed() {
    // No epoch ends by count; the 20 ms interval ends one at the frontier, which stops at
    // 23, where the three shares stall (not a multiple of anything).
    kill_and_rerun("recovery-timed", Some(20), false, |committed| {
        committed == 23
    });
}

fn kill_and_rerun(
    name: &str,
    interval_ms: Option<u64>,
    grouped: bool,
    ready: impl Fn(u64) -> bool,
) {
    let dir = support::temp_dir(name);
    let env = |run: &str, block: Option<&str>| {
        let mut v = vec![
            ("TANDEM_TIMELY_DIR", dir.display().to_string()),
            ("TANDEM_TIMELY_RUN", run.to_string()),
        ];
        if let Some(b) = block {
            v.push(("TANDEM_TIMELY_BLOCK_FROM", b.to_string()));
        }
        if let Some(ms) = interval_ms {
            v.push(("TANDEM_TIMELY_INTERVAL_MS", ms.to_string()));
        }
        if grouped {
            v.push(("TANDEM_TIMELY_GROUPED", String::from("1")));
        }
        v
    };
    // Run 1: every share stops at position 23.
    let mut cluster = support::Cluster::start("recovery_child", 3, &env("1", Some("23")));
    let guard = Instant::now() + Duration::from_secs(60);
    while !ready(committed(&dir)) {
        assert!(
            Instant::now() < guard,
            "never committed far enough: {}",
            committed(&dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.children[1].kill().expect("kill -9 process 1");
    let _ = cluster.children[1].wait();
    let mut survivors = support::Cluster {
        children: vec![cluster.children.remove(2), cluster.children.remove(0)],
    };
    for (status, err) in survivors.wait(Duration::from_secs(10)) {
        assert_eq!(status.and_then(|s| s.code()), Some(3), "{err}");
        assert!(err.contains("lost connection to timely process 1"), "{err}");
    }
    let done = committed(&dir);
    assert!(ready(done) && done <= 23, "committed below position {done}");

    // Run 2, same arguments without the stall: completes.
    let mut rerun = support::Cluster::start("recovery_child", 3, &env("2", None));
    for (i, (status, err)) in rerun.wait(Duration::from_secs(120)).iter().enumerate() {
        assert!(
            status.is_some_and(|s| s.success()),
            "rerun process {i}: {err}"
        );
    }
    let mut out = lines(&dir.join("out.txt"));
    out.sort();
    let mut expected: Vec<String> = if grouped {
        let mut lines = Vec::new();
        for start in (0..INPUTS).step_by(WINDOW as usize) {
            for key in 0..KEYS {
                let values = (start..start + WINDOW).filter(|i| i % KEYS == key);
                lines.push(group_line(key, values.collect()));
            }
        }
        lines
    } else {
        (0..INPUTS).map(|i| format!("key-{i}")).collect()
    };
    expected.sort();
    assert_eq!(out, expected, "every key exactly once");
    let rerun_inputs: Vec<u64> = (0..3)
        .flat_map(|p| lines(&dir.join(format!("seen-run2-p{p}"))))
        .filter_map(|l| l.parse().ok())
        .collect();
    assert!(
        rerun_inputs.iter().all(|&i| i >= done),
        "inputs of committed epochs were processed again: {rerun_inputs:?}"
    );
    assert_eq!(rerun_inputs.len() as u64, INPUTS - done);
    let _ = std::fs::remove_dir_all(dir);
}
