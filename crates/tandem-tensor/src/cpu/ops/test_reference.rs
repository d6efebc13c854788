//! The tests' reference for the CPU's GEMM kernels: an f64 product and the error bound of f32
//! accumulation in any order.

/// Asserts that `out` (`m × n`, row-major) is `start + A · B` (`start` only when
/// `accumulate`) for `A` and `B` given element by element (`a(i, p)`, `b(p, j)`, exact in
/// f64), within f32 accumulation of `k` products in any order: `(k + 1)·u·(Σ|a·b| + |start|)`
/// with `u = 2⁻²⁴` (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1). `what`
/// names the case in the message.
///
/// # Panics
/// On the first element out of bound (the point of it).
pub(crate) fn assert_product(
    what: &str,
    (m, k, n): (usize, usize, usize),
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
    start: &[f32],
    accumulate: bool,
    out: &[f32],
) {
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut scale) = (0f64, 0f64);
            for p in 0..k {
                let prod = a(i, p) * b(p, j);
                exact += prod;
                scale += prod.abs();
            }
            let s = if accumulate {
                f64::from(start[i * n + j])
            } else {
                0.0
            };
            let tol = (k as f64 + 1.0) * 2f64.powi(-24) * (scale + s.abs());
            let got = f64::from(out[i * n + j]);
            assert!(
                (got - (exact + s)).abs() <= tol,
                "{what} accumulate={accumulate} [{i},{j}] of {m}x{k}x{n}: {got} vs {} \
                 (tolerance {tol:e})",
                exact + s
            );
        }
    }
}
