//! Logging: the library crates emit `tracing` events; the binary installs one subscriber that
//! writes them to stderr, filtered by `RUST_LOG` when it is set (`RUST_LOG=tandem_hub=debug`),
//! else by `-v` (debug) / `-vv` (trace), else at `info`.
//!
//! Log lines and the progress bar share stderr. Each line is written through the bar that is
//! currently drawn ([`ProgressBar::suspend`]: the bar is cleared, the line written, the bar
//! redrawn), so neither garbles the other.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use indicatif::ProgressBar;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The bar drawn on stderr now, if any.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Makes `bar` the one log lines are written around (replacing the previous one).
pub fn set_active_bar(bar: &ProgressBar) {
    *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
}

/// The filter: `rust_log` (the `RUST_LOG` value) when set and valid, else the level for
/// `verbosity` (the `-v` count). An invalid `RUST_LOG` is reported and ignored.
pub fn filter(verbosity: u8, rust_log: Option<&str>) -> EnvFilter {
    let default = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(spec) => EnvFilter::try_new(spec).unwrap_or_else(|e| {
            // Not a log line: the logger is what failed.
            eprintln!("warning: ignoring RUST_LOG={spec:?}: {e}");
            EnvFilter::new(default)
        }),
        None => EnvFilter::new(default),
    }
}

/// Installs the stderr subscriber. Call once, first thing in `main`; a second call (tests
/// that run several commands in one process) keeps the first subscriber.
pub fn init(verbosity: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbosity, std::env::var("RUST_LOG").ok().as_deref()))
        .with_writer(BarAwareStderr)
        .with_target(verbosity > 0)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

/// `MakeWriter` for stderr that suspends the active progress bar around each line.
#[derive(Clone, Copy, Debug, Default)]
pub struct BarAwareStderr;

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = BarAwareStderr;

    fn make_writer(&'a self) -> Self::Writer {
        BarAwareStderr
    }
}

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE_BAR
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // The fmt layer formats a whole event, then writes it with one `write_all`.
        match bar {
            Some(bar) if !bar.is_hidden() && !bar.is_finished() => {
                bar.suspend(|| std::io::stderr().write_all(buf))?
            }
            _ => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_over_the_verbosity_flags() {
        assert_eq!(filter(0, None).to_string(), "info");
        assert_eq!(filter(1, None).to_string(), "debug");
        assert_eq!(filter(5, Some("")).to_string(), "trace");
        assert_eq!(
            filter(2, Some("tandem_hub=debug")).to_string(),
            "tandem_hub=debug"
        );
        // Not a filter: the verbosity level applies.
        assert_eq!(filter(0, Some("tandem_hub=loud")).to_string(), "info");
    }
}
