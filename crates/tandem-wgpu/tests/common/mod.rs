//! Helpers shared by the wgpu integration tests: the shared device, seeded data, and
//! comparison with the CPU reference backend.

#![allow(dead_code)]

use tandem_tensor::{CpuBackend, DType, Tensor};
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

/// Asserts elementwise closeness: |a - b| ≤ tol · (1 + |b|).
pub fn assert_close(what: &str, got: &Tensor<WgpuBackend>, want: &Tensor<CpuBackend>, tol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: dims");
    let g = got
        .to_vec_f32()
        .unwrap_or_else(|e| panic!("{what}: read gpu: {e}"));
    let w = want
        .to_vec_f32()
        .unwrap_or_else(|e| panic!("{what}: read cpu: {e}"));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a - b).abs() <= tol * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
        assert!(
            ok,
            "{what}: element {i} of {:?}: gpu {a}, cpu {b}",
            want.dims()
        );
    }
}

pub fn tol(dtype: DType) -> f32 {
    match dtype {
        DType::F32 => 1e-4,
        DType::F16 => 1e-2,
        _ => 4e-2,
    }
}
