//! Running one op's problems on a backend: device acquisition, case count, seeds, and a
//! failure report that prints the (shrunk) failing input and the seed to replay it.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::fmt::{Debug, Display};
use tandem_tensor::Backend;

/// Cases per op when neither the macro nor `TANDEM_CONFORMANCE_CASES` says otherwise.
pub const DEFAULT_CASES: u32 = 256;

/// What a `fallible:` backend constructor may return: a device, or the reason there is none.
pub trait DeviceSource<B> {
    fn into_device(self) -> Result<B, String>;
}

impl<B> DeviceSource<B> for Option<B> {
    fn into_device(self) -> Result<B, String> {
        self.ok_or_else(|| "the constructor returned None".to_string())
    }
}

impl<B, E: Display> DeviceSource<B> for Result<B, E> {
    fn into_device(self) -> Result<B, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Turns a constructor's result into a backend. A missing device fails the test with the
/// constructor's reason and the fix: a test that cannot run never passes as `ok`. Tests for a
/// device CI machines lack are `#[ignore = "reason"]`d instead (see `conformance_suite!`).
#[track_caller]
pub fn acquire<B: Backend>(op: &str, source: impl DeviceSource<B>) -> B {
    match source.into_device() {
        Ok(b) => b,
        Err(why) => panic!(
            "`{op}`: the backend constructor found no device: {why}. Install the device's \
             driver (wgpu in CI: Mesa's lavapipe, `mesa-vulkan-drivers`, which `.ci/run` \
             installs), or leave these tests out with `cargo test -- --skip <name>`."
        ),
    }
}

/// `TANDEM_CONFORMANCE_CASES` if set (and a number), otherwise `default`.
pub fn cases(default: u32) -> u32 {
    match std::env::var("TANDEM_CONFORMANCE_CASES") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("TANDEM_CONFORMANCE_CASES={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// The run's seed: `TANDEM_CONFORMANCE_SEED` when set (to replay a run), otherwise fresh from
/// the clock and process id, so every run explores new problems.
pub fn seed() -> u64 {
    match std::env::var("TANDEM_CONFORMANCE_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("TANDEM_CONFORMANCE_SEED={v:?} is not a u64")),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (t as u64) ^ ((t >> 64) as u64) ^ (std::process::id() as u64).rotate_left(32)
        }
    }
}

/// Runs `cases` problems from `strategy` through `check` on `backend`; panics (failing the
/// test) with the op, the seed, the shrunk failing problem and the mismatch.
pub fn run_problem<B, S, F>(op: &str, backend: &B, cases: u32, strategy: S, check: F)
where
    B: Backend,
    S: Strategy,
    S::Value: Debug,
    F: Fn(&B, &S::Value) -> Result<(), String>,
{
    let seed = seed();
    // Printed on every run (shown with `--nocapture` and on failure) so any run, failing or
    // not, can be replayed exactly.
    eprintln!(
        "conformance `{op}` on `{}`: seed {seed} (pin with TANDEM_CONFORMANCE_SEED={seed})",
        backend.name()
    );
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let result = runner.run(&strategy, |problem| {
        check(backend, &problem).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, problem)) => panic!(
            "conformance `{op}` failed on backend `{}`\n  seed: {seed} (replay with TANDEM_CONFORMANCE_SEED={seed})\n  \
             failure: {reason}\n  minimal failing problem: {problem:#?}",
            backend.name()
        ),
        Err(TestError::Abort(reason)) => panic!(
            "conformance `{op}` aborted on backend `{}` (seed {seed}): {reason}",
            backend.name()
        ),
    }
}

/// A backend that is always there (what `conformance_suite!(expr)` wraps its expression in).
pub struct Always<B>(pub B);

impl<B> DeviceSource<B> for Always<B> {
    fn into_device(self) -> Result<B, String> {
        Ok(self.0)
    }
}
