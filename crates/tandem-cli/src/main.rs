//! `tandem`: see `tandem --help` and the README.

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
            eprintln!("\ninterrupted: finishing the images already read (interrupt again to quit at once)");
            stop.stop();
        } else {
            std::process::exit(i32::from(commands::EXIT_INTERRUPTED));
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will stop the run abruptly: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    handle_interrupts();
    let result = match cli.command {
        Command::Caption(args) => commands::caption(args),
        Command::Rank(args) => commands::rank(args),
        Command::Ab(args) => commands::ab(args),
    };
    result.unwrap_or_else(|e| commands::report_error(&e))
}
