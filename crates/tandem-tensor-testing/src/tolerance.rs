//! Per-dtype tolerances and comparison helpers that name the worst element.

use tandem_tensor::DType;

/// `|actual - expected| ≤ atol + rtol·|expected| + acc·scale[i]` per element.
///
/// `atol`/`rtol` cover rounding of the output to the storage dtype; `acc` covers f32
/// accumulation error of long sums and dot products, measured against the per-element `scale`
/// (e.g. `Σ|a·b|` for a matmul entry) that the problem supplies. Backends compute half types in
/// f32 (see the `tandem-tensor` semantics), so `acc` does not depend on the dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
    pub acc: f64,
}

impl Tolerance {
    /// The base tolerance of a dtype: tight for f32, a few ulps for the half types.
    pub fn of(dtype: DType) -> Tolerance {
        match dtype {
            DType::F32 => Tolerance {
                atol: 2e-5,
                rtol: 2e-5,
                acc: 2e-6,
            },
            DType::F16 => Tolerance {
                atol: 4e-3,
                rtol: 4e-3,
                acc: 2e-6,
            },
            DType::BF16 => Tolerance {
                atol: 2e-2,
                rtol: 2e-2,
                acc: 2e-6,
            },
            DType::U32 | DType::I64 => Tolerance {
                atol: 0.0,
                rtol: 0.0,
                acc: 0.0,
            },
        }
    }

    /// Every term multiplied by `factor` (ops whose result goes through several roundings).
    pub fn scaled(self, factor: f64) -> Tolerance {
        Tolerance {
            atol: self.atol * factor,
            rtol: self.rtol * factor,
            acc: self.acc * factor,
        }
    }
}

/// Compares `actual` with `expected` element by element through the workspace's one
/// comparison loop ([`crate::close`]). On failure the message names the number of bad elements
/// and the worst one (index, multi-index in `dims`, both values, error and allowed error) and
/// the max abs/rel error. NaN must meet NaN and an infinity the same infinity: the reference
/// propagates NaN inputs and fully masked rows exactly as the ops must.
pub fn compare(
    what: &str,
    dims: &[usize],
    actual: &[f64],
    expected: &[f64],
    scale: Option<&[f64]>,
    tol: Tolerance,
) -> Result<(), String> {
    crate::close::compare_elements(
        what,
        dims,
        actual,
        expected,
        |i, e| tol.atol + tol.rtol * e.abs() + tol.acc * scale.map_or(0.0, |s| s[i]),
        true,
    )
    .map(drop)
    .map_err(|e| format!("{e} ({tol:?})"))
}

/// Exact comparison for integer results (indices).
pub fn compare_exact(
    what: &str,
    dims: &[usize],
    actual: &[u32],
    expected: &[u32],
) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{what}: got {} elements, expected {} (dims {dims:?})",
            actual.len(),
            expected.len()
        ));
    }
    let bad: Vec<usize> = (0..actual.len())
        .filter(|&i| actual[i] != expected[i])
        .collect();
    match bad.first() {
        None => Ok(()),
        Some(&i) => Err(format!(
            "{what}: {} of {} elements differ; first at flat index {i} (index {:?} of dims {dims:?}): got {}, expected {}",
            bad.len(),
            actual.len(),
            unflatten(i, dims),
            actual[i],
            expected[i]
        )),
    }
}

/// Row-major multi-index of flat index `i` in `dims`.
pub fn unflatten(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        if dims[d] > 0 {
            idx[d] = i % dims[d];
            i /= dims[d];
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_the_worst_element() {
        let tol = Tolerance::of(DType::F32);
        assert!(compare("x", &[3], &[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], None, tol).is_ok());
        let err = compare(
            "x",
            &[2, 2],
            &[1.0, 2.5, 3.0, 9.0],
            &[1.0, 2.0, 3.0, 4.0],
            None,
            tol,
        )
        .unwrap_err();
        assert!(err.contains("2 of 4"), "{err}");
        assert!(err.contains("index [1, 1]"), "{err}");
        assert!(compare("x", &[1], &[f64::NAN], &[f64::NAN], None, tol).is_ok());
        assert!(compare("x", &[1], &[1.0], &[f64::NAN], None, tol).is_err());
    }
}
