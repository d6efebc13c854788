//! `tandem`: see `tandem --help` and the README.
//!
//! Exit codes: 0 when every input produced a result (or help/version was asked for), 1 when
//! the run could not start (any bad argument, clap's usage errors included), 2 only when the
//! run finished but some inputs failed, 130 after an interrupt (SIGINT/SIGTERM).
//!
//! Logs go to stderr through `tracing` (`-v`, `-vv`, `RUST_LOG`); results go to stdout.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use tandem_cli::cli::{Cli, Command};
use tandem_cli::{commands, run};

/// The first SIGINT/SIGTERM stops reading inputs and lets the images already read finish (the
/// summary, `--out`, `--errors` and `--html` are written, exit code 130); a second one exits
/// at once.
fn handle_interrupts() {
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);
    let stop = run::process_stop_handle();
    let installed = ctrlc::set_handler(move || {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
            tracing::warn!(
                "interrupted: finishing the images already read (interrupt again to quit at once)"
            );
            stop.stop();
        } else {
            std::process::exit(i32::from(commands::EXIT_INTERRUPTED));
        }
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C will stop the run abruptly: {e}");
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print to stdout and succeed; usage errors exit 1, not
            // clap's 2, which this program reserves for "finished, some inputs failed".
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tandem_cli::logging::init(cli.verbose);
    handle_interrupts();
    let result = match cli.command {
        Command::Caption(args) => commands::caption(args),
        Command::Rank(args) => commands::rank(args),
        Command::Ab(args) => commands::ab(*args),
        Command::Launch(args) => tandem_cli::launch::launch(args),
    };
    result.unwrap_or_else(|e| commands::report_error(&e))
}
