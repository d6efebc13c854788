//! The one place a device is chosen: an enum at the edge, generic code everywhere else.

use std::fmt;

/// Where the models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// Multi-threaded CPU (always available).
    Cpu,
    /// GPU through wgpu (Vulkan, Metal, DX12); needs the `wgpu` cargo feature (on by default).
    Wgpu,
    /// NVIDIA GPU through CUDA (driver + NVRTC loaded at run time); needs the `cuda` cargo
    /// feature (on by default). `TANDEM_CUDA_DEVICE` picks the GPU (default 0).
    Cuda,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Wgpu => "wgpu",
            Device::Cuda => "cuda",
        })
    }
}

/// Calls `$body` with `$b` bound to a backend value for `$device`, or returns the
/// "not compiled in" / "could not start" error. A macro because the body is generic over the
/// backend type, which a closure cannot be.
#[macro_export]
macro_rules! with_backend {
    ($device:expr, |$b:ident| $body:expr) => {{
        match $device {
            $crate::backend::Device::Cpu => {
                let $b = $crate::backend::CpuBackend;
                $body
            }
            $crate::backend::Device::Wgpu => $crate::backend::wgpu_dispatch!($b, $body),
            $crate::backend::Device::Cuda => $crate::backend::cuda_dispatch!($b, $body),
        }
    }};
}

#[cfg(feature = "wgpu")]
#[doc(hidden)]
#[macro_export]
macro_rules! __wgpu_dispatch {
    ($b:ident, $body:expr) => {
        match $crate::backend::tandem_wgpu::WgpuBackend::new() {
            Ok($b) => $body,
            Err(e) => Err($crate::CliError::BackendUnavailable {
                backend: "wgpu",
                reason: e.to_string(),
            }),
        }
    };
}

#[cfg(not(feature = "wgpu"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __wgpu_dispatch {
    ($b:ident, $body:expr) => {
        Err($crate::CliError::BackendNotCompiled {
            backend: "wgpu",
            hint: "rebuild with the `wgpu` cargo feature (on by default)",
        })
    };
}

#[doc(hidden)]
pub use crate::__wgpu_dispatch as wgpu_dispatch;
#[cfg(feature = "wgpu")]
#[doc(hidden)]
pub use tandem_wgpu;

#[cfg(feature = "cuda")]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_dispatch {
    ($b:ident, $body:expr) => {
        match $crate::backend::cuda_device().and_then(|ordinal| {
            $crate::backend::tandem_cuda::CudaBackend::new(ordinal).map_err(|e| e.to_string())
        }) {
            Ok($b) => $body,
            Err(reason) => Err($crate::CliError::BackendUnavailable {
                backend: "cuda",
                reason,
            }),
        }
    };
}

#[cfg(not(feature = "cuda"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __cuda_dispatch {
    ($b:ident, $body:expr) => {
        Err($crate::CliError::BackendNotCompiled {
            backend: "cuda",
            hint: "rebuild with the `cuda` cargo feature (on by default)",
        })
    };
}

#[doc(hidden)]
pub use crate::__cuda_dispatch as cuda_dispatch;
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub use tandem_cuda;

/// The GPU ordinal `--backend cuda` opens: `TANDEM_CUDA_DEVICE`, default 0.
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub fn cuda_device() -> Result<usize, String> {
    match std::env::var("TANDEM_CUDA_DEVICE") {
        Err(_) => Ok(0),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("TANDEM_CUDA_DEVICE={v:?} is not a GPU index (0, 1, …)")),
    }
}

pub use tandem_tensor::CpuBackend;
