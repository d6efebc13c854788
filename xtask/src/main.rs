//! Project automation, the rust-analyzer way: `cargo xtask <command>`.
//!
//! One module per command. Each command is plain Rust calling the tools a developer
//! would call by hand, so what CI does can be reproduced locally with the same command.

mod bench;
mod ci;
mod cuda_sim;
mod fetch_weights;
mod fixtures;
mod nvrtc;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bench cascade [ARGS]  build in release mode and time `tandem caption` with full-size random
               checkpoints on the local and timely runners (benches/src/bin/cascade.rs)
  ci          run exactly what CI runs (.ci/run calls this after installing system packages)
  cuda-sim    build the CUDA simulator (a stand-in libcuda that runs our kernels on the host)
               and print its folder: `LD_LIBRARY_PATH=$(cargo xtask cuda-sim) cargo test -p
               tandem-cuda -- --ignored` runs the CUDA backend's device tests without a GPU
  fetch-weights  download the default BLIP and CLIP checkpoints into $TANDEM_HOME (resumable, sha256-checked)
  onnxruntime  fetch the onnxruntime wheel's shared library into .cache/ and print its path
               (for tandem-onnx: `ORT_DYLIB_PATH=$(cargo xtask onnxruntime) cargo test -p tandem-onnx`)
  fixtures    regenerate the golden test fixtures with Python transformers (needs python3 and PyPI; not run by CI)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    let rest = &args[1..];
    match command.as_str() {
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "cuda-sim" => cuda_sim::run(rest),
        "fixtures" => fixtures::run(rest),
        "onnxruntime" => {
            println!("{}", ci::fetch_onnxruntime()?.display());
            Ok(())
        }
        "fetch-weights" => fetch_weights::run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}
