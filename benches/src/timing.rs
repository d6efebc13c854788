//! Honest timing for asynchronous backends, and the panic policy of benchmarks.

use criterion::{black_box, Bencher};
use std::time::{Duration, Instant};
use tandem_tensor::{Backend, Result};

/// Unwraps a setup or op result; a benchmark cannot continue without it, so it stops with the
/// benchmark's name and the error (never a bare `unwrap`).
pub fn must<T>(what: &str, r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("benchmark {what}: {e}"),
    }
}

/// Times `iters` runs of `op` with `iter_custom`: the device is synchronised before the clock
/// starts (so earlier queued work is not billed here) and after the last run (so queued work is
/// billed at all). Each output is dropped when the next one is produced, as in a model, so at
/// most two outputs are alive at a time.
pub fn bench_op<B: Backend, T>(
    bencher: &mut Bencher,
    backend: &B,
    what: &str,
    mut op: impl FnMut() -> Result<T>,
) {
    bencher.iter_custom(|iters| {
        must(what, backend.synchronize());
        let start = Instant::now();
        let mut last = None;
        for _ in 0..iters {
            last = Some(black_box(must(what, op())));
        }
        must(what, backend.synchronize());
        let elapsed = start.elapsed();
        drop(last);
        elapsed
    });
}

/// Fastest and median wall time of a set of calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// The fastest call: closest to the machine's ability when other processes share the cores.
    pub best: Duration,
    pub median: Duration,
}

/// Times `runs` calls of `op` after `warmup` calls, synchronising after each so an asynchronous
/// backend is timed to completion. For the criterion-free `matmul_peak` tool.
pub fn time_runs<B: Backend, T>(
    backend: &B,
    warmup: usize,
    runs: usize,
    mut op: impl FnMut() -> Result<T>,
) -> Result<Timings> {
    for _ in 0..warmup {
        black_box(op()?);
        backend.synchronize()?;
    }
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        black_box(op()?);
        backend.synchronize()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(Timings {
        best: times[0],
        median: times[times.len() / 2],
    })
}

/// The median wall time of `reps` calls of `f` (at least one), after `warmup` untimed calls:
/// the figure the ratio-printing bins (`activations`, `decode_matmul`) report for CPU work,
/// which is synchronous. The first error stops the timing and is returned.
pub fn median_time<E>(
    reps: usize,
    warmup: usize,
    mut f: impl FnMut() -> std::result::Result<(), E>,
) -> std::result::Result<Duration, E> {
    for _ in 0..warmup {
        f()?;
    }
    let mut all = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        all.push(t.elapsed());
    }
    all.sort();
    Ok(all[all.len() / 2])
}

/// `--reps N` from the command line (the only argument the ratio-printing bins take), at least
/// 1, `default` when absent.
///
/// # Errors
/// An unknown argument, or a missing or unparsable value.
pub fn reps_from_args(default: usize) -> std::result::Result<usize, String> {
    let mut reps = default;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => {
                let value = args.next().ok_or("--reps needs a value")?;
                reps = value.parse().map_err(|e| format!("--reps {value}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(reps.max(1))
}
