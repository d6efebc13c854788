//! Running a built pipeline with the standard sinks, and the end-of-run summary.

use std::path::PathBuf;
use std::time::Duration;

use tandem_pipeline::{PCollection, Pipeline, RunReport};

use crate::error::CliError;
use crate::inputs::InputRef;
use crate::outputs::{Collected, ErrorSink, ResultSink};
use crate::records::{ErrorRecord, ImageResult};

/// Where results and failures go.
#[derive(Clone, Debug, Default)]
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
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub results: Vec<ImageResult>,
    pub errors: Vec<ErrorRecord>,
    pub report: RunReport,
}

/// Builds the pipeline over `inputs` with `build`, attaches the sinks and runs it.
pub fn execute<F>(
    inputs: Vec<InputRef>,
    opts: &RunOptions,
    build: F,
) -> Result<RunOutcome, CliError>
where
    F: FnOnce(&PCollection<InputRef>) -> (PCollection<ImageResult>, PCollection<ErrorRecord>),
{
    let bar = crate::progress::bar(inputs.len() as u64, opts.progress);
    let collected = Collected::default();
    let p = Pipeline::new();
    let inputs = p.create(inputs).named("ListInputs");
    let (results, errors) = build(&inputs);
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
    let report = p.run();
    bar.finish_and_clear();
    Ok(RunOutcome {
        results: collected.results(),
        errors: collected.errors(),
        report: report?,
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

/// The end-of-run summary printed on stderr.
pub fn summary(
    outcome: &RunOutcome,
    skipped: usize,
    errors_path: Option<&std::path::Path>,
) -> String {
    let secs = outcome.report.wall_time.as_secs_f64();
    let done = outcome.results.len();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let mut s = format!(
        "done: {done} images, failed: {}, skipped (already in --out): {skipped}, time: {secs:.2}s ({rate:.2} images/s)\n",
        outcome.errors.len()
    );
    s.push_str("stage timings (busy):");
    for (name, busy) in stage_timings(&outcome.report).iter().take(8) {
        s.push_str(&format!(" {name} {:.2}s;", busy.as_secs_f64()));
    }
    s.push('\n');
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
