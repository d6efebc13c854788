//! The `Sink` contract, `PCollection::write`, and the JSON Lines file and stdout sinks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::element::{debug_text, downcast, panic_message, Elem, Element};
use crate::error::BoxError;
use crate::pcollection::PCollection;
use crate::runner::api::{ExecContext, Executor, Failure, Outputs, ProcessError};
use crate::timestamp::Timestamp;

/// Somewhere elements go. A sink runs as a single instance: `open` once, `write` per
/// element as it arrives (so results leave while a streaming run goes on), `close` at end of
/// input (flush there). A `write` error fails the run naming the
/// element.
pub trait Sink<T>: Send + 'static {
    /// Prepares the destination (creates the file).
    fn open(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
    /// Writes one element.
    fn write(&mut self, element: T) -> Result<(), BoxError>;
    /// Flushes and releases the destination.
    fn close(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

fn guarded(f: impl FnOnce() -> Result<(), BoxError>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => Err(panic_message(p.as_ref())),
    }
}

struct SinkExec<T, S> {
    sink: Option<S>,
    _t: PhantomData<fn(T)>,
}

impl<T: Elem, S: Sink<T>> SinkExec<T, S> {
    fn sink(&mut self) -> Result<&mut S, String> {
        self.sink
            .as_mut()
            .ok_or_else(|| String::from("sink used after a failed close"))
    }
}

impl<T: Elem, S: Sink<T>> Executor for SinkExec<T, S> {
    fn setup(&mut self) -> Result<(), String> {
        let sink = self.sink()?;
        guarded(|| sink.open())
    }

    fn process(
        &mut self,
        _port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        let (timestamp, window) = (elem.timestamp, elem.window);
        let value: T = downcast(elem.value).map_err(|message| ProcessError::Step {
            phase: "write",
            message,
        })?;
        let shown = debug_text(&value);
        let sink = self.sink().map_err(|message| ProcessError::Step {
            phase: "write",
            message,
        })?;
        match guarded(|| sink.write(value)) {
            Ok(()) => {
                out.counts.written += 1;
                Ok(())
            }
            Err(message) => Err(ProcessError::Element(Failure {
                dead_letter: Box::new(()),
                element: shown,
                message,
                timestamp,
                window,
            })),
        }
    }

    fn on_watermark(&mut self, watermark: Timestamp, _out: &mut Outputs) -> Result<(), String> {
        if !watermark.is_max() {
            return Ok(());
        }
        let sink = self.sink()?;
        let r = guarded(|| sink.close());
        self.sink = None;
        r
    }
}

impl<T: Elem> PCollection<T> {
    /// Writes every element to `sink`. Sinks run as one instance (no parallelism), so
    /// element order within the sink follows arrival order.
    pub fn write<S: Sink<T>>(&self, name: impl Into<String>, sink: S) {
        // The factory is called once (single instance); keep the sink until then.
        let slot = Arc::new(std::sync::Mutex::new(Some(sink)));
        let factory = Arc::new(move |_: &ExecContext| -> Box<dyn Executor> {
            let sink = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            Box::new(SinkExec::<T, S> {
                sink,
                _t: PhantomData,
            })
        });
        self.add_sink_step(name.into(), factory);
    }
}

/// Writes each element as one JSON line to a file (created or truncated).
pub struct WriteJsonLines {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl WriteJsonLines {
    /// A sink writing to `path`.
    pub fn to_path(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            out: None,
        }
    }
}

impl<T: Elem + Serialize> Sink<T> for WriteJsonLines {
    fn open(&mut self) -> Result<(), BoxError> {
        let file = File::create(&self.path)
            .map_err(|e| format!("cannot create `{}`: {e}", self.path.display()))?;
        self.out = Some(BufWriter::new(file));
        Ok(())
    }

    fn write(&mut self, element: T) -> Result<(), BoxError> {
        let out = self
            .out
            .as_mut()
            .ok_or("JSON Lines sink written before open")?;
        serde_json::to_writer(&mut *out, &element)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        if let Some(mut out) = self.out.take() {
            out.flush()
                .map_err(|e| format!("cannot write `{}`: {e}", self.path.display()))?;
        }
        Ok(())
    }
}

/// Writes each element as one JSON line to standard output.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteStdout;

impl<T: Elem + Serialize> Sink<T> for WriteStdout {
    fn write(&mut self, element: T) -> Result<(), BoxError> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &element)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), BoxError> {
        std::io::stdout().flush()?;
        Ok(())
    }
}
