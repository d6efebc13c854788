//! Helpers of the integration tests: the conformance pipeline, and a cluster of child
//! processes (this test binary re-invoked on one ignored test) on free 127.0.0.1 ports,
//! always reaped, with a timeout.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tandem_handler::{HandlerError, ModelHandler, ModelHandlerExt};
use tandem_pipeline::{Collected, FixedWindows, Pipeline, RunInference};

/// `y = 10·x`, refusing negative inputs.
pub struct Scaler;

impl ModelHandler for Scaler {
    type Example = f32;
    type Prediction = f32;
    type Model = f32;
    type Args = ();
    fn load_model(&self) -> Result<f32, HandlerError> {
        Ok(10.0)
    }
    fn run_inference(&self, batch: &[&f32], scale: &f32, _: &()) -> Result<Vec<f32>, HandlerError> {
        batch
            .iter()
            .map(|&&x| match x >= 0.0 {
                true => Ok(scale * x),
                false => Err(HandlerError::inference(format!("negative input {x}"))),
            })
            .collect()
    }
    fn model_id(&self) -> String {
        "scaler".into()
    }
}

/// One pipeline using every transform (map, filter, partition, flatten, flat_map, group,
/// combine, co-group, fixed windows, dead letters, RunInference), its results as text
/// collected on one worker.
pub fn conformance(p: &Pipeline) -> Collected<String> {
    let nums = p.create(0..300i64);
    let parts = nums.partition("Parity", 2, |x, _| (*x % 2) as usize);
    let squares = parts[0].map("Square", |x| x * x);
    let tripled = parts[1].flat_map("Triple", |x| vec![x, x, x]);
    let kept = squares
        .flatten_with("Merge", &[&tripled])
        .filter("Small", |x| *x < 9_000);
    let keyed = kept.map("ByTens", |x| (x % 10, x));
    let grouped = keyed.group_by_key("Group").map("SortGroup", |(k, mut vs)| {
        vs.sort();
        format!("group {k}: {vs:?}")
    });
    let sums = keyed
        .combine_per_key("Sum", 0i64, |a, x| a + x)
        .map("ShowSum", |(k, s)| format!("sum {k}: {s}"));
    let labels = p
        .create((0..10i64).map(|k| (k, format!("label-{k}"))))
        .named("Labels");
    let joined = keyed
        .co_group_by_key("Join", &labels)
        .map("ShowJoin", |(k, (vs, ls))| {
            format!("join {k}: {} values, labels {ls:?}", vs.len())
        });
    let windowed = p
        .create(0..40u32)
        .named("Timed")
        .window_into("Window", FixedWindows::new(7))
        .map("One", |x| ((), x))
        .combine_per_key("WindowSum", 0u32, |a, x| a + x)
        .map("ShowWindow", |(_, s)| format!("window sum {s}"));
    let checked = p
        .create(vec![1u32, 0, 4, 0, 2, 5])
        .named("Divisors")
        .try_map("Divide", |d| match d {
            0 => Err("division by zero"),
            d => Ok(100 / d),
        });
    let dead = checked
        .dead_letters()
        .map("ShowDead", |f| format!("dead {}: {}", f.element, f.error));
    let alive = checked.map("ShowAlive", |q| format!("quotient {q}"));
    let inferred = p
        .create(vec![1.0f32, -2.0, 3.0, 4.5])
        .named("Inputs")
        .map("Key", |x| (format!("{x}"), x))
        .run_inference("RunInference", RunInference::new(Scaler.keyed()));
    let served = inferred.map("ShowServed", |r| {
        format!("served {}: {}", r.example.0, r.inference)
    });
    let refused = inferred.dead_letters().map("ShowRefused", |f| {
        format!("refused {}: {}", f.element.0, f.error)
    });
    grouped
        .flatten_with(
            "All",
            &[&sums, &joined, &windowed, &dead, &alive, &served, &refused],
        )
        .with_coder()
        .collect("Out")
}

/// `n` addresses `127.0.0.1:port` with ports free right now.
pub fn free_addresses(n: usize) -> Vec<String> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1"))
        .collect();
    listeners
        .iter()
        .map(|l| {
            format!(
                "127.0.0.1:{}",
                l.local_addr().expect("local address").port()
            )
        })
        .collect()
}

/// Child processes killed and reaped on drop, whatever happens to the test.
pub struct Cluster {
    pub children: Vec<Child>,
}

impl Cluster {
    /// Starts `n` processes of this test binary running only the ignored test `entry`, with
    /// `TANDEM_TIMELY_PROCESS`, `TANDEM_TIMELY_ADDRESSES` and the extra `env` set.
    pub fn start(entry: &str, n: usize, env: &[(&str, String)]) -> Cluster {
        let exe = std::env::current_exe().expect("path of the test binary");
        let addresses = free_addresses(n).join(",");
        let children = (0..n)
            .map(|i| {
                let mut cmd = Command::new(&exe);
                cmd.args([
                    "--exact",
                    entry,
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("TANDEM_TIMELY_PROCESS", i.to_string())
                .env("TANDEM_TIMELY_ADDRESSES", &addresses)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
                for (k, v) in env {
                    cmd.env(k, v);
                }
                cmd.spawn().expect("start a child test process")
            })
            .collect();
        Cluster { children }
    }

    /// Waits for every child, at most `limit` in all; returns each exit status (`None`: it
    /// was still running at the limit and was killed) and its stderr.
    pub fn wait(&mut self, limit: Duration) -> Vec<(Option<ExitStatus>, String)> {
        let deadline = Instant::now() + limit;
        let mut results = Vec::new();
        for child in &mut self.children {
            let status = loop {
                match child.try_wait() {
                    Ok(Some(s)) => break Some(s),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                }
            };
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            results.push((status, err));
        }
        results
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// This child's process index and the cluster's addresses, from the environment the parent
/// set; `None` when run directly (then the child test has nothing to do and says so).
pub fn child_settings() -> Option<(usize, Vec<String>)> {
    let i = std::env::var("TANDEM_TIMELY_PROCESS").ok()?.parse().ok()?;
    let addrs = std::env::var("TANDEM_TIMELY_ADDRESSES").ok()?;
    Some((i, addrs.split(',').map(str::to_string).collect()))
}

/// A fresh temp folder for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-timely-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}
