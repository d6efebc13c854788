//! The one place a device is chosen: an enum at the edge, generic code everywhere else.

use std::fmt;

/// Where the models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// Multi-threaded CPU (always available).
    Cpu,
    /// GPU through wgpu (Vulkan, Metal, DX12); needs the `wgpu` cargo feature (on by default).
    Wgpu,
    /// NVIDIA CUDA; not compiled into this build.
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
            $crate::backend::Device::Cuda => Err($crate::CliError::BackendNotCompiled {
                backend: "cuda",
                hint: "this build has no CUDA backend; use --backend cpu or --backend wgpu",
            }),
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

pub use tandem_tensor::CpuBackend;
