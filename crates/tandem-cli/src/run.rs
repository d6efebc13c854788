//! Running a built pipeline with the standard sinks, and the end-of-run summary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tandem_pipeline::{FixedWindows, PCollection, Pipeline, RunReport, StopHandle};

use crate::error::CliError;
use crate::inputs::{InputRef, StdinInputs};
use crate::metrics::{MetricsServer, RunCounters};
use crate::outputs::{Collected, ErrorSink, ResultSink};
use crate::records::{ErrorRecord, ImageResult};

/// The process-wide graceful stop: the binary's SIGINT/SIGTERM handler triggers it, and every
/// run started with default [`RunOptions`] stops its sources when it fires.
pub fn process_stop_handle() -> StopHandle {
    static STOP: OnceLock<StopHandle> = OnceLock::new();
    STOP.get_or_init(StopHandle::new).clone()
}

/// How many images (positions) may be between the oldest image still in the pipeline and the
/// newest one read: enough to keep both models' batches full, small enough that decoded
/// images waiting in the join stay a bounded amount of memory whatever the input size.
pub const MAX_IMAGES_IN_FLIGHT: u64 = 32;

/// The images a run reads: a list known up front (files, folders, globs, `@list`), or
/// standard input read as it arrives.
pub enum InputStream {
    /// A bounded list.
    List(Vec<InputRef>),
    /// `-`: paths and URLs from stdin, unbounded.
    Stdin(StdinInputs),
}

/// Where results and failures go.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// JSON Lines of every result (appended: resume).
    pub out: Option<PathBuf>,
    /// JSON Lines of dead-letter records (rewritten each run).
    pub errors: Option<PathBuf>,
    /// Print the notebook-style text on stdout.
    pub print: bool,
    /// Captions shown per image in the text.
    pub top_k: usize,
    /// Show the progress bar (when stderr is a terminal).
    pub progress: bool,
    /// Keep every result in memory for after the run (the HTML page, the A/B report).
    /// Without it only counts are kept, so a long or streaming run's memory does not grow
    /// with its input.
    pub keep_results: bool,
    /// Stops the sources (graceful interrupt).
    pub stop: StopHandle,
    /// Serve live Prometheus metrics here while the run lasts (`--metrics-addr`).
    pub metrics_addr: Option<SocketAddr>,
    /// Records each input ends as: 1, or 2 in shadow mode (one per arm). Scales the progress
    /// bar and the metrics' in-flight count.
    pub records_per_input: u64,
    /// Which runner executes the pipeline (`--runner`).
    pub runner: crate::launch::RunnerArgs,
    /// Records `--out` already has of inputs that run again: not written a second time.
    pub written: Written,
}

/// `(image, arm)` of records already in `--out` whose image runs again: a shadow run
/// killed between an image's two arms wrote one of them, so the rerun runs the image and
/// writes only the missing arm. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Written(Arc<std::collections::HashSet<(String, Option<String>)>>);

impl Written {
    /// The set of `(image, arm)` pairs.
    pub fn new(records: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        Written(Arc::new(records.into_iter().collect()))
    }

    /// Whether `--out` already has `r`.
    pub fn contains(&self, r: &ImageResult) -> bool {
        self.0.contains(&(r.image.clone(), r.arm.clone()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: None,
            errors: None,
            print: false,
            top_k: 3,
            progress: false,
            keep_results: true,
            stop: process_stop_handle(),
            metrics_addr: None,
            records_per_input: 1,
            runner: crate::launch::RunnerArgs::default(),
            written: Written::default(),
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Every result (only with [`RunOptions::keep_results`]).
    pub results: Vec<ImageResult>,
    /// How many results the run wrote.
    pub result_count: usize,
    pub errors: Vec<ErrorRecord>,
    pub report: RunReport,
    /// Whether the run was stopped early by [`RunOptions::stop`].
    pub interrupted: bool,
    /// [`RunOptions::records_per_input`] of the run.
    pub records_per_input: u64,
}

/// Builds the pipeline over `inputs` with `build`, attaches the sinks and runs it.
///
/// Every input is stamped with its position and put in a window of its own
/// (`FixedWindows::new(1)`), so each joins with its captions and leaves the pipeline as soon
/// as its models are done: results are written while the run goes on, an interrupted run
/// keeps them, and nothing accumulates in memory.
pub fn execute<F>(inputs: InputStream, opts: &RunOptions, build: F) -> Result<RunOutcome, CliError>
where
    F: FnOnce(&PCollection<InputRef>) -> (PCollection<ImageResult>, PCollection<ErrorRecord>),
{
    let per_input = opts.records_per_input.max(1);
    let counters = Arc::new(RunCounters::default());
    counters
        .records_per_input
        .store(per_input, Ordering::Relaxed);
    let server = match opts.metrics_addr {
        Some(addr) => Some(MetricsServer::start(addr, Arc::clone(&counters))?),
        None => None,
    };
    let p = Pipeline::new();
    let (read, total) = match inputs {
        InputStream::List(list) => {
            let n = list.len() as u64;
            (p.create(list).named("ListInputs"), Some(n))
        }
        InputStream::Stdin(stdin) => (p.read(stdin), None),
    };
    let bar = crate::progress::bar(total.map(|n| n * per_input), opts.progress);
    let collected = Collected::new(opts.keep_results);
    let mut inputs = read.window_into("WindowPerImage", FixedWindows::new(1));
    if server.is_some() {
        let c = Arc::clone(&counters);
        inputs = inputs
            .map("Metrics/CountInputs", move |i: InputRef| {
                c.read.fetch_add(1, Ordering::Relaxed);
                i
            })
            .output();
    }
    let (results, errors) = build(&inputs);
    // Coders: on a timely run of several processes, every process's results reach the
    // writers on process 0.
    let (mut results, mut errors) = (results.with_coder(), errors.with_coder());
    if !opts.written.is_empty() {
        let written = opts.written.clone();
        results = results
            .filter("SkipWritten", move |r: &ImageResult| !written.contains(r))
            .with_coder()
            .output();
    }
    if server.is_some() {
        let c = Arc::clone(&counters);
        results = results
            .map("Metrics/CountResults", move |r: ImageResult| {
                c.results.fetch_add(1, Ordering::Relaxed);
                r
            })
            .with_coder()
            .output();
        let c = Arc::clone(&counters);
        errors = errors
            .map("Metrics/CountFailures", move |e: ErrorRecord| {
                c.failures.fetch_add(1, Ordering::Relaxed);
                e
            })
            .with_coder()
            .output();
    }
    if let Some(server) = &server {
        server.attach(p.live_inference_metrics());
    }
    tracing::debug!(
        inputs = ?total,
        records_per_input = per_input,
        "running the pipeline:\n{}",
        p.to_text()
    );
    results.write(
        "WriteResults",
        ResultSink::new(
            opts.out.clone(),
            opts.print,
            opts.top_k,
            bar.clone(),
            collected.clone(),
        ),
    );
    errors.write(
        "WriteErrors",
        ErrorSink::new(opts.errors.clone(), bar.clone(), collected.clone()),
    );
    let report = crate::launch::run(p, &opts.runner, &opts.stop, MAX_IMAGES_IN_FLIGHT)?;
    bar.finish_and_clear();
    drop(server);
    Ok(RunOutcome {
        results: collected.results(),
        result_count: collected.result_count(),
        errors: collected.errors(),
        report: report?,
        interrupted: opts.stop.is_stopped(),
        records_per_input: per_input,
    })
}

/// Busy time per stage, largest first, e.g. `BLIP/RunInference 2.1s`.
pub fn stage_timings(report: &RunReport) -> Vec<(String, Duration)> {
    let mut stages: Vec<(String, Duration)> = report
        .steps
        .iter()
        .filter(|s| !s.name.ends_with("Errors") && s.busy > Duration::ZERO)
        .map(|s| (s.name.clone(), s.busy))
        .collect();
    stages.sort_by_key(|s| std::cmp::Reverse(s.1));
    stages
}

/// How inputs that were given but not run were accounted for, so the summary adds up: inputs
/// given = done + failed + skipped + duplicates merged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Skipped because `--out` already has them.
    pub resumed: usize,
    /// Repeats of an input given earlier, merged into it (one record for both).
    pub duplicates: usize,
}

/// The summary's `model calls:` line: per RunInference step, the seconds spent inside
/// `run_inference` (the handler's per-call timer, summed over this process's workers and
/// model versions) and the number of calls. The rest of the wall time is the framework's:
/// reading, decoding, batching, joining and writing.
fn model_calls(inference: &tandem_handler::MetricsReport) -> String {
    let mut steps: Vec<(&str, f64, u64)> = Vec::new();
    for m in &inference.models {
        match steps.iter_mut().find(|(s, _, _)| *s == m.step) {
            Some((_, secs, calls)) => {
                *secs += m.stats.batch_latency.sum;
                *calls += m.stats.batches;
            }
            None => steps.push((&m.step, m.stats.batch_latency.sum, m.stats.batches)),
        }
    }
    let mut s = String::from("model calls:");
    for (step, secs, calls) in steps {
        s.push_str(&format!(" {step} {secs:.2}s in {calls} calls;"));
    }
    s.push('\n');
    s
}

/// The end-of-run summary printed on stderr.
pub fn summary(
    outcome: &RunOutcome,
    counts: InputCounts,
    errors_path: Option<&std::path::Path>,
) -> String {
    let InputCounts {
        resumed: skipped,
        duplicates,
    } = counts;
    let secs = outcome.report.wall_time.as_secs_f64();
    let done = outcome.result_count;
    let images = done as f64 / outcome.records_per_input.max(1) as f64;
    let rate = if secs > 0.0 { images / secs } else { 0.0 };
    let mut s = String::new();
    if outcome.interrupted {
        s.push_str("interrupted: stopped reading inputs; the images already read were finished\n");
    }
    let unit = if outcome.records_per_input > 1 {
        format!("results ({} per image)", outcome.records_per_input)
    } else {
        String::from("images")
    };
    s.push_str(&format!(
        "done: {done} {unit}, failed: {}, skipped (already in --out): {skipped}, duplicates merged: {duplicates}, time: {secs:.2}s ({rate:.2} images/s)\n",
        outcome.errors.len()
    ));
    s.push_str("stage timings (busy):");
    for (name, busy) in stage_timings(&outcome.report).iter().take(8) {
        s.push_str(&format!(" {name} {:.2}s;", busy.as_secs_f64()));
    }
    s.push('\n');
    s.push_str(&model_calls(&outcome.report.inference));
    if !outcome.errors.is_empty() {
        match errors_path {
            Some(p) => s.push_str(&format!("failures written to {}\n", p.display())),
            None => {
                for e in outcome.errors.iter().take(10) {
                    s.push_str(&format!(
                        "  failed: {} [{}]: {}\n",
                        e.image, e.stage, e.reason
                    ));
                }
                if outcome.errors.len() > 10 {
                    s.push_str(&format!(
                        "  … and {} more (use --errors FILE)\n",
                        outcome.errors.len() - 10
                    ));
                }
            }
        }
    }
    s
}
