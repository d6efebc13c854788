//! `cargo xtask bench cascade [ARGS]`: builds the `tandem` program and the `cascade` benchmark
//! in release mode, then runs the benchmark (full-size random checkpoints written once under
//! `target/bench-models/`, the committed photos, every runner configuration, then the same job
//! in transformers when the fixture venv exists; see
//! `benches/src/bin/cascade.rs` for its arguments). A benchmark prints numbers and ratios; it
//! never passes or fails on them.

use crate::util::{self, project_root};
use anyhow::{bail, Result};

pub fn run(args: &[String]) -> Result<()> {
    let Some((which, rest)) = args.split_first() else {
        bail!("usage: cargo xtask bench cascade [--images N] [--captions N] [--max-length N] [--dtype f32|bf16|f16] [--runs local,timely-1x2,launch-2x1] [--python .venv/bin/python | --no-torch]");
    };
    match which.as_str() {
        "cascade" => {
            util::run(
                "cargo",
                &[
                    "build",
                    "--release",
                    "--locked",
                    "-p",
                    "tandem-cli",
                    "-p",
                    "tandem-benches",
                    "--bin",
                    "tandem",
                    "--bin",
                    "cascade",
                ],
            )?;
            let release = project_root().join("target/release");
            let tandem = release.join("tandem").display().to_string();
            let mut bench_args: Vec<&str> = vec!["--tandem", &tandem];
            bench_args.extend(rest.iter().map(String::as_str));
            util::run(&release.join("cascade").display().to_string(), &bench_args)
        }
        other => bail!("unknown benchmark `{other}` (known: cascade)"),
    }
}
