//! The progress bar on stderr: hidden when stderr is not a terminal, so piped and logged
//! output stays clean. A drawn bar becomes the one log lines are written around
//! ([`crate::logging`]), so logs and the bar do not garble each other.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting images finished (succeeded or failed) out of `total` (a spinner with a
/// count when the total is unknown: stdin).
pub fn bar(total: Option<u64>, enabled: bool) -> ProgressBar {
    let target = if enabled && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(total, target);
    let template = match total {
        Some(_) => "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} images ({per_sec}, ETA {eta}) {msg}",
        None => "{spinner} [{elapsed_precise}] {pos} images ({per_sec}) {msg}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    crate::logging::set_active_bar(&bar);
    bar
}
