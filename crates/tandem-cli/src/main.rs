//! `tandem`: see `tandem --help` and the README.
//!
//! Exit codes: 0 when every input produced a result (or help/version was asked for), 1 when
//! the run could not start (any bad argument, clap's usage errors included), 2 only when the
//! run finished but some inputs failed.

use std::process::ExitCode;

use clap::Parser;
use tandem_cli::cli::{Cli, Command};
use tandem_cli::commands;

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
    let result = match cli.command {
        Command::Caption(args) => commands::caption(args),
        Command::Rank(args) => commands::rank(args),
        Command::Ab(args) => commands::ab(args),
    };
    result.unwrap_or_else(|e| commands::report_error(&e))
}
