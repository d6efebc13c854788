//! The sinks at the end of every pipeline: results to stdout (notebook text), `--out` (JSON
//! Lines, appended) and memory (for the HTML page and the summary); failures to `--errors`
//! and memory. Both advance the progress bar.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use tandem_pipeline::{BoxError, Sink};

use crate::records::{notebook_text, ErrorRecord, ImageResult};

/// What a run produced, shared between the sinks and the caller. Results are counted, and
/// kept only when asked (the HTML page and the A/B report need them), so a long run's memory
/// does not grow with its input; failures are kept (they are listed in the summary).
#[derive(Clone, Default)]
pub struct Collected {
    /// Count results without keeping them.
    pub counts_only: bool,
    pub results: Arc<Mutex<Vec<ImageResult>>>,
    pub result_count: Arc<AtomicUsize>,
    pub errors: Arc<Mutex<Vec<ErrorRecord>>>,
}

impl Collected {
    /// Keeps results in memory only if `keep_results` (the default keeps them).
    pub fn new(keep_results: bool) -> Self {
        Collected {
            counts_only: !keep_results,
            ..Collected::default()
        }
    }
    pub fn results(&self) -> Vec<ImageResult> {
        self.results.lock().map(|r| r.clone()).unwrap_or_default()
    }
    pub fn result_count(&self) -> usize {
        self.result_count.load(Ordering::SeqCst)
    }
    pub fn errors(&self) -> Vec<ErrorRecord> {
        self.errors.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Writes `record` as one JSON line and flushes it. A failure (a full disk) names the file
/// and the OS error, nothing more: the pipeline adds which record it was.
fn write_line<T: serde::Serialize>(
    f: &mut BufWriter<File>,
    record: &T,
    path: &Path,
) -> Result<(), BoxError> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    f.write_all(&line)
        .and_then(|()| f.flush())
        .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn close(file: &mut Option<BufWriter<File>>, path: Option<&Path>) -> Result<(), BoxError> {
    match (file.as_mut(), path) {
        (Some(f), Some(path)) => f
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", path.display()).into()),
        _ => Ok(()),
    }
}

/// Writes each result as soon as it arrives (flushed, so an interrupted run keeps what it
/// finished).
pub struct ResultSink {
    pub out: Option<PathBuf>,
    pub print: bool,
    pub top_k: usize,
    pub progress: ProgressBar,
    pub collected: Collected,
    file: Option<BufWriter<File>>,
}

impl ResultSink {
    pub fn new(
        out: Option<PathBuf>,
        print: bool,
        top_k: usize,
        progress: ProgressBar,
        collected: Collected,
    ) -> Self {
        ResultSink {
            out,
            print,
            top_k,
            progress,
            collected,
            file: None,
        }
    }
}

impl Sink<ImageResult> for ResultSink {
    fn open(&mut self) -> Result<(), BoxError> {
        if let Some(path) = &self.out {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.file = Some(BufWriter::new(f));
        }
        Ok(())
    }

    fn write(&mut self, result: ImageResult) -> Result<(), BoxError> {
        if let (Some(f), Some(path)) = (&mut self.file, &self.out) {
            write_line(f, &result, path)?;
        }
        if self.print {
            let text = notebook_text(&result, self.top_k);
            self.progress.suspend(|| {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{text}");
            });
        }
        self.progress.inc(1);
        self.collected.result_count.fetch_add(1, Ordering::SeqCst);
        if !self.collected.counts_only {
            self.collected
                .results
                .lock()
                .map_err(|_| "result list poisoned")?
                .push(result);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        close(&mut self.file, self.out.as_deref())
    }
}

/// Writes dead-letter records to `--errors` (truncated at the start of each run: it describes
/// this run's failures, which a resumed run retries).
pub struct ErrorSink {
    pub path: Option<PathBuf>,
    pub progress: ProgressBar,
    pub collected: Collected,
    file: Option<BufWriter<File>>,
}

impl ErrorSink {
    pub fn new(path: Option<PathBuf>, progress: ProgressBar, collected: Collected) -> Self {
        ErrorSink {
            path,
            progress,
            collected,
            file: None,
        }
    }
}

impl Sink<ErrorRecord> for ErrorSink {
    fn open(&mut self) -> Result<(), BoxError> {
        if let Some(path) = &self.path {
            let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            self.file = Some(BufWriter::new(f));
        }
        Ok(())
    }

    fn write(&mut self, record: ErrorRecord) -> Result<(), BoxError> {
        if let (Some(f), Some(path)) = (&mut self.file, &self.path) {
            write_line(f, &record, path)?;
        }
        self.progress.inc(1);
        self.collected
            .errors
            .lock()
            .map_err(|_| "error list poisoned")?
            .push(record);
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        close(&mut self.file, self.path.as_deref())
    }
}
