//! The workspace's one float comparison for tests: every test that compares floats (golden
//! parity with transformers, layer tests, backend-against-backend kernel tests, the conformance
//! suite) goes through [`check_close`] / [`assert_close`], so none of them can be blind to NaN.
//!
//! Why one helper: a max-error fold with `f32::max` drops NaN (`f32::max(0.0, NaN) == 0.0`), so
//! an all-NaN output scores 0 and passes. Here any non-finite value on either side fails, and a
//! failure names where (flat index, multi-index, both values) and how far (max abs and max
//! relative error over the whole tensor). Shapes are compared before any element.
//!
//! Tolerances are derived, not guessed: [`unit_roundoff`] gives `u` of a dtype, [`gamma`] the
//! classic bound `γ_n = n·u / (1 − n·u)` on the relative error of an `n`-term sum (Higham,
//! *Accuracy and Stability of Numerical Algorithms*, §3.1), and [`probabilities`] combines them
//! for softmax-like outputs, which also get a row-sum check ([`check_row_sums`]).

use std::fmt::Write;
use tandem_tensor::{Backend, DType, Tensor};

/// Allowed error per element: `|got − want| ≤ abs + rel·|want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Close {
    pub abs: f64,
    pub rel: f64,
}

impl Close {
    /// An absolute bound only (activations of unit scale).
    pub const fn abs(abs: f64) -> Close {
        Close { abs, rel: 0.0 }
    }
    /// A relative bound only (probabilities, values spanning magnitudes).
    pub const fn rel(rel: f64) -> Close {
        Close { abs: 0.0, rel }
    }
    /// Both bounds.
    pub const fn new(abs: f64, rel: f64) -> Close {
        Close { abs, rel }
    }
    /// The allowed error for one expected value.
    pub fn allowed(&self, want: f64) -> f64 {
        self.abs + self.rel * want.abs()
    }
}

/// What a passing comparison measured, for the test to print.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    /// Elements compared.
    pub len: usize,
    /// `max |got − want|`.
    pub max_abs: f64,
    /// `max |got − want| / |want|` over elements whose `want` is non-zero.
    pub max_rel: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} values, max abs error {:.3e}, max rel error {:.3e}",
            self.len, self.max_abs, self.max_rel
        )
    }
}

/// Unit roundoff `u = 2^-p` of a float dtype (`p` = significand bits including the implicit
/// one): the largest relative error of rounding one real to the dtype.
pub fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 2f64.powi(-24),
        DType::F16 => 2f64.powi(-11),
        DType::BF16 => 2f64.powi(-8),
        DType::U32 | DType::I64 => 0.0,
    }
}

/// Spacing of the dtype's subnormals (the absolute rounding error floor near zero): values
/// below the smallest normal lose relative accuracy, so a relative bound needs this as `abs`.
pub fn subnormal_spacing(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 2f64.powi(-149),
        DType::F16 => 2f64.powi(-24),
        DType::BF16 => 2f64.powi(-133),
        DType::U32 | DType::I64 => 0.0,
    }
}

/// `γ_n = n·u / (1 − n·u)`: the worst-case relative error of summing `n` terms of one sign in
/// arithmetic with unit roundoff `u`, whatever the summation order (Higham, Lemma 3.1).
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    assert!(
        nu < 0.5,
        "γ_n undefined for n·u = {nu} (n = {n}, u = {u:e})"
    );
    nu / (1.0 - nu)
}

/// Tolerance of a softmax output (probabilities) over rows of `row_len`, stored as `dtype`.
///
/// Derivation, per element `p_i = exp(x_i − m) / Σ_j exp(x_j − m)`, with the arithmetic in f32
/// (the workspace's backends compute half types in f32):
/// - `x_i − m` in f32: relative error `u32`, i.e. absolute `u32·|x_i − m|`; `exp` turns an
///   absolute input error `δ` into a relative output error `δ`, plus its own few ulps. With
///   `|x_i − m| ≤ 16` (inputs and additive masks of the problem generators and tests are within
///   ±8) that is at most `(16 + 4)·u32`.
/// - the sum of `row_len` positive terms: `γ_row_len(u32)` relative (any order).
/// - the division: `u32`.
/// - roundings to `dtype`: one for a fused kernel, up to three (the exponentials, the sum, the
///   quotient) for a backend that composes the op from stored intermediates: `3·u_dtype`.
///
/// So `rel = 3·u_dtype + γ_row_len(u32) + 21·u32`, doubled for slack against the reference
/// (exact in f64). Values that round into the dtype's subnormals lose relative accuracy: `abs`
/// is one subnormal spacing. A normaliser 20% off or an all-zero output is off by 0.17 or 1
/// relative: far outside this for every dtype (bf16, the loosest: `rel ≈ 2.4e-2`).
pub fn probabilities(dtype: DType, row_len: usize) -> Close {
    let u32_ = unit_roundoff(DType::F32);
    let rel = 3.0 * unit_roundoff(dtype) + gamma(row_len, u32_) + 21.0 * u32_;
    Close::new(subnormal_spacing(dtype), 2.0 * rel)
}

/// Tolerance of a model output computed in a half dtype (bf16, f16), compared with the f32
/// reference (transformers in f32) of the same checkpoint and inputs.
///
/// `reference_drift` is how far the reference implementation itself moves in that dtype:
/// `max |transformers(dtype) − transformers(f32)|` over the same tensor, which the fixture
/// generator records (`xtask/fixtures/half_precision.py`, `half_precision.json`). Derivation:
/// - Weights: both implementations round the checkpoint to nearest even in the dtype, so the
///   error the rounded weights cause, `E_w`, is one and the same tensor for both.
/// - Activations: transformers rounds every op's output to the dtype; Tandem rounds at the same
///   points or fewer (f32 accumulation, f32 softmax and layer-norm statistics). Each rounding is
///   a relative error ≤ `u_dtype` of the value, and the same network carries it to the output,
///   so the two runs' activation errors `E_a` (ours) and `E'_a` (theirs) have one size.
/// - Theirs − f32 = `E_w + E'_a`, at most `reference_drift`; ours − f32 = `E_w + E_a`. One
///   drift covers the error both share, a second one replacing their activation roundings by
///   ours: `2·reference_drift`. `f32_tol` adds the f32 summation-order difference that the f32
///   parity test allows.
///
/// A wrong op, a missed conversion or a lost scale moves outputs by the order of the values
/// themselves: the fixtures' values are 37× to 164× their bf16 drift (`max_abs_value` in the
/// same file), so such bugs land far outside. The parity tests print `|ours − f32| / drift`.
pub fn half_precision_parity(reference_drift: f64, f32_tol: Close) -> Close {
    Close::new(2.0 * reference_drift + f32_tol.abs, f32_tol.rel)
}

/// Reads `reference_drift` for [`half_precision_parity`] from a fixture folder's
/// `half_precision.json` (written by `cargo xtask fixtures`): `max_abs_drift.<bf16|f16>.<tensor>`.
///
/// Panics, naming the file and the missing key, when the fixture has no drift for the
/// tensor or `dtype` is not a half type: a test without its yardstick must not pass.
pub fn fixture_drift(fixture_dir: &std::path::Path, dtype: DType, tensor: &str) -> f64 {
    let path = fixture_dir.join("half_precision.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask fixtures`)", path.display()));
    let info: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let key = match dtype {
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        other => panic!("no reference drift for {other}: only half types drift from f32"),
    };
    info["max_abs_drift"][key][tensor]
        .as_f64()
        .unwrap_or_else(|| panic!("{}: no max_abs_drift.{key}.{tensor}", path.display()))
}

/// Compares `got` (shape `got_dims`) with `want` (shape `want_dims`): shapes first, then every
/// element. Any non-finite value on either side fails (NaN cannot hide behind a `max`).
pub fn check_close<G, W>(
    what: &str,
    got_dims: &[usize],
    got: &[G],
    want_dims: &[usize],
    want: &[W],
    tol: Close,
) -> Result<Report, String>
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    if got_dims != want_dims {
        return Err(format!(
            "{what}: shape {got_dims:?}, reference shape {want_dims:?}"
        ));
    }
    compare_elements(what, got_dims, got, want, |_, w| tol.allowed(w), false)
        .map_err(|e| format!("{e} (tolerance {tol:?})"))
}

/// [`check_close`], panicking with its message; returns the measured errors.
#[track_caller]
pub fn assert_close<G, W>(
    what: &str,
    got_dims: &[usize],
    got: &[G],
    want_dims: &[usize],
    want: &[W],
    tol: Close,
) -> Report
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    check_close(what, got_dims, got, want_dims, want, tol).unwrap_or_else(|e| panic!("{e}"))
}

/// [`assert_close`] for two flat slices (a length mismatch is a shape mismatch).
#[track_caller]
pub fn assert_close_slices<G, W>(what: &str, got: &[G], want: &[W], tol: Close) -> Report
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    assert_close(what, &[got.len()], got, &[want.len()], want, tol)
}

/// Downloads `got` (any backend, any float dtype) and [`assert_close`]s it with the reference
/// `want` of shape `want_dims`; prints and returns the measured errors.
#[track_caller]
pub fn assert_tensor_close<B: Backend>(
    what: &str,
    got: &Tensor<B>,
    want_dims: &[usize],
    want: &[f32],
    tol: Close,
) -> Report {
    let values = got
        .to_vec_f32()
        .unwrap_or_else(|e| panic!("{what}: reading the result back: {e}"));
    let report = assert_close(what, got.dims(), &values, want_dims, want, tol);
    eprintln!("  {what:<32} {report}");
    report
}

/// Each row (last dim of `dims`) of `values` sums to 1 within `tol` (absolute); rows and values
/// must be finite. A softmax whose normaliser is wrong, or that returns zeros, fails here even
/// where the per-element check is loose.
pub fn check_row_sums<T: Copy + Into<f64>>(
    what: &str,
    dims: &[usize],
    values: &[T],
    tol: f64,
) -> Result<(), String> {
    let cols = dims.last().copied().unwrap_or(1).max(1);
    if values.len() != dims.iter().product::<usize>() {
        return Err(format!(
            "{what}: {} values for shape {dims:?}",
            values.len()
        ));
    }
    for (r, row) in values.chunks(cols).enumerate() {
        let sum: f64 = row.iter().map(|&v| v.into()).sum();
        if !sum.is_finite() || (sum - 1.0).abs() > tol {
            return Err(format!(
                "{what}: row {r} (index {:?}) sums to {sum}, not 1 within {tol:e}",
                crate::tolerance::unflatten(r * cols, dims)
            ));
        }
    }
    Ok(())
}

/// [`check_row_sums`], panicking with its message.
#[track_caller]
pub fn assert_row_sums<T: Copy + Into<f64>>(what: &str, dims: &[usize], values: &[T], tol: f64) {
    check_row_sums(what, dims, values, tol).unwrap_or_else(|e| panic!("{e}"))
}

/// The element loop shared with the conformance suite's [`crate::compare`]: `allowed(i, want)`
/// gives each element's bound. With `non_finite_must_match`, NaN must meet NaN and an infinity
/// the same infinity (ops whose reference legitimately propagates NaN); otherwise any
/// non-finite value fails.
pub(crate) fn compare_elements<G, W>(
    what: &str,
    dims: &[usize],
    got: &[G],
    want: &[W],
    allowed: impl Fn(usize, f64) -> f64,
    non_finite_must_match: bool,
) -> Result<Report, String>
where
    G: Copy + Into<f64>,
    W: Copy + Into<f64>,
{
    if got.len() != want.len() {
        return Err(format!(
            "{what}: got {} elements, reference has {} (dims {dims:?})",
            got.len(),
            want.len()
        ));
    }
    let mut report = Report {
        len: got.len(),
        ..Report::default()
    };
    let mut worst: Option<(usize, f64, f64)> = None; // (index, error / allowed, allowed)
    let mut bad = 0usize;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (a, e): (f64, f64) = (g.into(), w.into());
        let lim = allowed(i, e);
        let ok = if !a.is_finite() || !e.is_finite() {
            non_finite_must_match && (a == e || (a.is_nan() && e.is_nan()))
        } else {
            let err = (a - e).abs();
            report.max_abs = report.max_abs.max(err);
            if e != 0.0 {
                report.max_rel = report.max_rel.max(err / e.abs());
            }
            err <= lim
        };
        if !ok {
            bad += 1;
            let ratio = if (a - e).is_finite() {
                (a - e).abs() / lim.max(f64::MIN_POSITIVE)
            } else {
                f64::INFINITY
            };
            if worst.is_none_or(|(_, r, _)| ratio > r) {
                worst = Some((i, ratio, lim));
            }
        }
    }
    match worst {
        None => Ok(report),
        Some((i, _, lim)) => {
            let (a, e): (f64, f64) = (got[i].into(), want[i].into());
            let mut msg = String::new();
            let _ = write!(
                msg,
                "{what}: {bad} of {} elements differ; worst at flat index {i} (index {:?} of dims {dims:?}): \
                 got {a}, expected {e}, error {:e} > allowed {lim:e}",
                got.len(),
                crate::tolerance::unflatten(i, dims),
                (a - e).abs(),
            );
            if !a.is_finite() || !e.is_finite() {
                msg.push_str(" (a non-finite value)");
            }
            let _ = write!(
                msg,
                "; over the finite elements: max abs error {:.3e}, max rel error {:.3e}",
                report.max_abs, report.max_rel
            );
            Err(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_fail_and_are_located() {
        let err = check_close(
            "x",
            &[2],
            &[1.0f32, f32::NAN],
            &[2],
            &[1.0f32, 1.0],
            Close::abs(1.0),
        )
        .unwrap_err();
        assert!(err.contains("flat index 1") && err.contains("NaN"), "{err}");
        let all_nan = vec![f32::NAN; 6];
        assert!(check_close("x", &[6], &all_nan, &[6], &[0f32; 6], Close::abs(1e9)).is_err());
        let err = check_close(
            "x",
            &[1],
            &[1.0f32],
            &[1],
            &[f32::INFINITY],
            Close::abs(1e9),
        );
        assert!(err.is_err(), "a non-finite reference fails too");
    }

    #[test]
    fn shapes_are_compared_before_elements() {
        let err =
            check_close("x", &[2, 2], &[0f32; 4], &[4], &[0f32; 4], Close::abs(1.0)).unwrap_err();
        assert!(err.contains("shape [2, 2]"), "{err}");
        let err =
            check_close("x", &[4], &[0f32; 4], &[4], &[0f32; 2], Close::abs(1.0)).unwrap_err();
        assert!(err.contains("reference has 2"), "{err}");
    }

    #[test]
    fn report_measures_abs_and_rel() {
        let r = check_close(
            "x",
            &[3],
            &[1.0f64, 2.2, 0.0],
            &[3],
            &[1.0f64, 2.0, 0.0],
            Close::abs(0.5),
        )
        .unwrap();
        assert!((r.max_abs - 0.2).abs() < 1e-12 && (r.max_rel - 0.1).abs() < 1e-12);
        let err = check_close(
            "x",
            &[2, 2],
            &[1.0f64, 2.5, 3.0, 9.0],
            &[2, 2],
            &[1.0f64, 2.0, 3.0, 4.0],
            Close::abs(0.1),
        )
        .unwrap_err();
        assert!(
            err.contains("2 of 4") && err.contains("index [1, 1]"),
            "{err}"
        );
    }

    /// The softmax tolerance sees the bugs it guards: a normaliser 20% off and an all-zero
    /// output, in every float dtype, for short and long rows (where an absolute half-precision
    /// tolerance used to pass zeros: rows ≥ 50 in bf16, ≥ 250 in f16).
    #[test]
    fn probability_tolerance_catches_a_wrong_normaliser_and_zeros() {
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            for n in [2usize, 50, 250, 3000, 5000] {
                let x: Vec<f64> = (0..n).map(|i| ((i * 37 % 17) as f64 - 8.0) / 2.0).collect();
                let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = x.iter().map(|v| (v - m).exp()).sum();
                let p: Vec<f64> = x.iter().map(|v| (v - m).exp() / z).collect();
                let tol = probabilities(dtype, n);
                // Correct values rounded to the dtype pass.
                let rounded: Vec<f64> = p
                    .iter()
                    .map(|&v| match dtype {
                        DType::F16 => tandem_tensor::f16_from_f64(v).to_f64(),
                        DType::BF16 => tandem_tensor::bf16_from_f64(v).to_f64(),
                        _ => v as f32 as f64,
                    })
                    .collect();
                check_close("ok", &[1, n], &rounded, &[1, n], &p, tol).unwrap();
                check_row_sums("ok", &[1, n], &rounded, tol.rel).unwrap();
                let off: Vec<f64> = p.iter().map(|v| v / 1.2).collect();
                assert!(check_close("off", &[1, n], &off, &[1, n], &p, tol).is_err());
                assert!(check_row_sums("off", &[1, n], &off, tol.rel).is_err());
                let zeros = vec![0f64; n];
                assert!(check_close("zeros", &[1, n], &zeros, &[1, n], &p, tol).is_err());
                assert!(check_row_sums("zeros", &[1, n], &zeros, tol.rel).is_err());
            }
        }
    }
}
