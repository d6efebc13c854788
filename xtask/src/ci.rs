//! `cargo xtask ci`: the whole CI job after system packages are installed.
//!
//! `.ci/run` installs what a fresh Debian machine lacks and then calls this, so a
//! developer with the same packages reproduces CI exactly with one command.

use crate::util;
use anyhow::Result;

pub fn run(_args: &[String]) -> Result<()> {
    // Every crate, example and bench must at least build, so examples never rot.
    util::run("cargo", &["build", "--workspace", "--all-targets", "--locked"])?;
    util::run("cargo", &["test", "--workspace", "--locked"])?;
    Ok(())
}

