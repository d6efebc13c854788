//! The same golden parity checks as `parity_cpu.rs`, on the wgpu backend (Mesa's lavapipe in CI):
//! the GPU kernels must reproduce transformers within the same f32 tolerances as the CPU.

mod common;

use tandem_tensor_testing::acquire;
use tandem_wgpu::WgpuBackend;

#[test]
fn wgpu_parity_with_transformers() {
    // No adapter fails the test with the fix named.
    let gpu = acquire("clip parity", WgpuBackend::shared());
    common::parity_suite(&gpu);
}

/// bf16 and f16 on the GPU kernels: within the bound derived from transformers' own drift in
/// that dtype, as on the CPU.
#[test]
fn wgpu_half_precision_within_transformers_drift() {
    let gpu = acquire("clip parity", WgpuBackend::shared());
    for name in common::CONFIGS {
        for dtype in [tandem_tensor::DType::BF16, tandem_tensor::DType::F16] {
            common::model_outputs_in(&gpu, name, dtype);
        }
    }
}
