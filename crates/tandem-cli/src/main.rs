//! `tandem`: see `tandem --help` and the README.

use std::process::ExitCode;

use clap::Parser;
use tandem_cli::cli::{Cli, Command};
use tandem_cli::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Caption(args) => commands::caption(args),
        Command::Rank(args) => commands::rank(args),
        Command::Ab(args) => commands::ab(args),
    };
    result.unwrap_or_else(|e| commands::report_error(&e))
}
