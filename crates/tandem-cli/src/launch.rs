//! Runner selection (`--runner local|timely`), timely's launch conventions, and
//! `tandem launch -n N`, which starts N local processes of one timely run.
//!
//! timely's conventions: every process runs the same command with `--processes N`,
//! `--process-index i` (0-based) and `--hosts FILE` (one `host:port` per line; process `i`
//! listens on line `i`), and `-w` worker threads each. Process 0 runs the single-instance
//! steps (the JSONL, dead-letter and HTML writers), so it prints the summary and writes the
//! outputs; the others print one line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use tandem_pipeline::{LocalRunner, Pipeline, RunReport, StopHandle};
use tandem_timely::TimelyRunner;

use crate::error::CliError;

/// Which runner executes the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RunnerKind {
    /// Threads of this process (the default).
    #[default]
    Local,
    /// timely-dataflow: worker threads, processes and hosts.
    Timely,
}

/// The runner options every command takes.
#[derive(Clone, Debug, Default, Args)]
pub struct RunnerArgs {
    /// Runner: local (threads of this process) or timely (several processes and hosts).
    #[arg(long, value_enum, default_value_t = RunnerKind::Local)]
    pub runner: RunnerKind,
    /// timely: worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// timely: processes in the run, each started with the same arguments.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// timely: this process's index among --processes (0-based).
    #[arg(long, default_value_t = 0)]
    pub process_index: usize,
    /// timely: hosts file, one host:port per line; process i listens on line i.
    #[arg(long)]
    pub hosts: Option<PathBuf>,
}

impl RunnerArgs {
    /// Whether this process writes the outputs and the summary (the only process of a local
    /// run, process 0 of a timely run).
    pub fn is_primary(&self) -> bool {
        self.runner == RunnerKind::Local || self.process_index == 0
    }

    /// Where this process serves `--metrics-addr`: process `i` of a timely run on port
    /// `port + i`, so the processes of `tandem launch` on one host do not collide (port 0
    /// stays 0: any free port, logged at start).
    pub fn metrics_addr(&self, addr: std::net::SocketAddr) -> std::net::SocketAddr {
        let mut addr = addr;
        if self.runner == RunnerKind::Timely && addr.port() != 0 {
            let index = u16::try_from(self.process_index).unwrap_or(u16::MAX);
            addr.set_port(addr.port().saturating_add(index));
        }
        addr
    }
}

/// Reads a hosts file: the first `processes` non-empty lines not starting with `#`.
///
/// # Errors
/// [`CliError::Io`] if it cannot be read; [`CliError::Argument`] if it has fewer lines.
pub fn read_hosts(path: &Path, processes: usize) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    let hosts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .take(processes)
        .collect();
    if hosts.len() < processes {
        return Err(CliError::Argument {
            option: "--hosts",
            reason: format!(
                "{} lists {} host:port lines but --processes is {processes}",
                path.display(),
                hosts.len()
            ),
        });
    }
    Ok(hosts)
}

/// Runs `p` on the runner `args` choose. `max_drift` bounds the images in flight on the
/// local runner (timely bounds them with its exchange buffers only).
///
/// # Errors
/// Bad launch arguments as [`CliError`]; the run's own error inside the `Ok`.
pub fn run(
    p: Pipeline,
    args: &RunnerArgs,
    stop: &StopHandle,
    max_drift: u64,
) -> Result<tandem_pipeline::Result<RunReport>, CliError> {
    match args.runner {
        RunnerKind::Local => {
            let runner = LocalRunner::new()
                .with_stop(stop.clone())
                .with_max_drift(max_drift);
            Ok(p.run_with(&runner))
        }
        RunnerKind::Timely => {
            let runner = if args.processes > 1 {
                let hosts = args.hosts.as_deref().ok_or_else(|| CliError::Argument {
                    option: "--hosts",
                    reason: "a timely run of several --processes needs a hosts file".into(),
                })?;
                let addresses = read_hosts(hosts, args.processes)?;
                TimelyRunner::cluster(args.workers, args.process_index, addresses)?
            } else {
                TimelyRunner::new(args.workers)
            };
            Ok(p.run_with(&runner.with_stop(stop.clone())))
        }
    }
}

/// `tandem launch -n N COMMAND...`: one timely run over N local processes.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Processes to start on this host.
    #[arg(short = 'n', long = "processes", default_value_t = 2)]
    pub processes: usize,
    /// The tandem command and its arguments (e.g. caption photos/ --out r.jsonl).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// How long the other processes get to exit after one failed.
const GRACE: Duration = Duration::from_secs(10);

/// Starts `args.processes` copies of this program running `args.command` with
/// `--runner timely`, a hosts file of free 127.0.0.1 ports and each process's index; waits
/// for all. Exit code: 0 if every process succeeded, else the first failure's code.
///
/// # Errors
/// [`CliError`] if the processes cannot be started.
pub fn launch(args: LaunchArgs) -> Result<ExitCode, CliError> {
    let n = args.processes.max(1);
    let exe = std::env::current_exe().map_err(|e| CliError::io(Path::new("tandem"), e))?;
    let hosts = std::env::temp_dir().join(format!("tandem-hosts-{}.txt", std::process::id()));
    let ports: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::io(Path::new("127.0.0.1"), e))?;
    let lines: Vec<String> = ports
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    drop(ports);
    std::fs::write(&hosts, lines.join("\n")).map_err(|e| CliError::io(&hosts, e))?;
    let mut children: Vec<Child> = Vec::with_capacity(n);
    for i in 0..n {
        let child = Command::new(&exe)
            .args(&args.command)
            .args(["--runner", "timely", "--processes", &n.to_string()])
            .args(["--process-index", &i.to_string()])
            .arg("--hosts")
            .arg(&hosts)
            .spawn();
        match child {
            Ok(c) => children.push(c),
            Err(e) => {
                for c in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(CliError::io(&exe, e));
            }
        }
    }
    let code = wait_all(&mut children);
    let _ = std::fs::remove_file(&hosts);
    Ok(ExitCode::from(code))
}

/// Waits for every child; once one fails the others get [`GRACE`] before they are killed.
fn wait_all(children: &mut [Child]) -> u8 {
    let mut codes: Vec<Option<i32>> = vec![None; children.len()];
    let mut failed_at: Option<Instant> = None;
    loop {
        for (child, code) in children.iter_mut().zip(codes.iter_mut()) {
            if code.is_none() {
                if let Ok(Some(status)) = child.try_wait() {
                    let c = status.code().unwrap_or(1);
                    *code = Some(c);
                    if c != 0 && failed_at.is_none() {
                        failed_at = Some(Instant::now());
                    }
                }
            }
        }
        if codes.iter().all(Option::is_some) {
            break;
        }
        if failed_at.is_some_and(|t| t.elapsed() > GRACE) {
            for (child, code) in children.iter_mut().zip(codes.iter_mut()) {
                if code.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                    *code = Some(1);
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    codes
        .iter()
        .flatten()
        .find(|c| **c != 0)
        .map_or(0, |c| u8::try_from(*c).unwrap_or(1))
}
