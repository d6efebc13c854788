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
