//! Helpers shared by the wgpu integration tests: the shared device, seeded data, and
//! comparison with the CPU reference backend.

#![allow(dead_code)]

use tandem_tensor::{CpuBackend, DType, Tensor};
use tandem_tensor_testing::close::unit_roundoff;
use tandem_tensor_testing::{assert_tensor_close, Close};
use tandem_wgpu::WgpuBackend;

/// The process-wide device; these tests need one (CI installs lavapipe), so a missing adapter
/// fails with the adapter error, which names the package to install.
pub fn gpu() -> WgpuBackend {
    match WgpuBackend::shared() {
        Ok(b) => b,
        Err(e) => panic!("no wgpu device for the tests: {e}"),
    }
}

/// Deterministic values in [-1, 1) (a 64-bit LCG; no RNG crate needed).
pub fn data(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The same values on both devices, as `dtype`.
pub fn pair(seed: u64, dims: &[usize], dtype: DType) -> (Tensor<CpuBackend>, Tensor<WgpuBackend>) {
    let v = data(seed, dims.iter().product());
    let c = Tensor::from_slice(&CpuBackend, &v, dims).and_then(|t| t.to_dtype(dtype));
    let g = Tensor::from_slice(&gpu(), &v, dims).and_then(|t| t.to_dtype(dtype));
    match (c, g) {
        (Ok(c), Ok(g)) => (c, g),
        (c, g) => panic!("upload failed: {:?} {:?}", c.err(), g.err()),
    }
}

/// Compares a wgpu result with the CPU backend's through the workspace's one comparison
/// (`tandem_tensor_testing::assert_tensor_close`: shapes first, any NaN fails, names the worst
/// element); prints the measured errors.
pub fn assert_close(what: &str, got: &Tensor<WgpuBackend>, want: &Tensor<CpuBackend>, tol: Close) {
    let w = want
        .to_vec_f32()
        .unwrap_or_else(|e| panic!("{what}: read cpu: {e}"));
    assert_tensor_close(what, got, want.dims(), &w, tol);
}

/// Tolerance of a wgpu result against the CPU backend's for values of unit scale, when both
/// compute in f32 from the same `dtype`-rounded inputs (matmul over k ≤ 257, attention over
/// lk ≤ 150, LayerNorm over 5000).
///
/// Derivation: the two backends sum in different orders; for k terms of |a·b| < 1 the typical
/// (random-walk) difference is ≈ √k·u32·√k = k·u32 ≈ 1.5e-5 at k = 257, so 1e-4 (abs and
/// rel) is the f32 part. Outputs are then rounded to `dtype` once per side: they may land on
/// neighbouring values, `2·u_dtype` relative, doubled for the f32 part pushing a value across a
/// rounding boundary: `4·u_dtype`. f32 1e-4, f16 ≈ 2.1e-3, bf16 ≈ 1.6e-2.
pub fn tol(dtype: DType) -> Close {
    let t = 1e-4 + 4.0 * unit_roundoff(dtype);
    Close::new(t, t)
}
