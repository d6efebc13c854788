//! The whole backend conformance suite on the wgpu backend. In CI this runs on Mesa's lavapipe
//! (a Vulkan device on the CPU), so the kernels are executed for real, not skipped. lavapipe is
//! slow, so fewer cases per op than the CPU backend's run (override with TANDEM_CONFORMANCE_CASES).

use tandem_wgpu::WgpuBackend;

tandem_tensor_testing::conformance_suite!(fallible: WgpuBackend::shared(), cases: 24);
