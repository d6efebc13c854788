//! Finding the CUDA libraries before cudarc touches them.
//!
//! cudarc (in `dynamic-loading` mode) opens `libcuda` and `libnvrtc` on first use and *panics*
//! when they are missing. Every entry point of this crate checks here first and returns a
//! [`CudaError`] naming the fix instead.

use crate::error::{CudaError, Result};
use std::sync::OnceLock;

/// Environment variable naming the NVRTC library file to use (e.g. the one in the
/// `nvidia-cuda-nvrtc-cu12` wheel: `.../nvidia/cuda_nvrtc/lib/libnvrtc.so.12`), for machines
/// where it is not on the loader path.
pub const NVRTC_ENV: &str = "TANDEM_CUDA_NVRTC";

/// Opens the library named by [`NVRTC_ENV`], once, and keeps it loaded: the dynamic loader then
/// answers cudarc's later lookup by soname (`libnvrtc.so.12`) with this already-loaded copy.
fn preload_nvrtc() -> Result<()> {
    static PRELOADED: OnceLock<std::result::Result<(), (String, String)>> = OnceLock::new();
    let outcome = PRELOADED.get_or_init(|| {
        let Some(path) = std::env::var_os(NVRTC_ENV) else {
            return Ok(());
        };
        // SAFETY: loading NVRTC runs only its library initialisers, which have no preconditions.
        match unsafe { libloading::Library::new(&path) } {
            Ok(lib) => {
                // Kept for the life of the process (cudarc holds function pointers into it).
                std::mem::forget(lib);
                Ok(())
            }
            Err(e) => Err((path.to_string_lossy().into_owned(), e.to_string())),
        }
    });
    outcome
        .clone()
        .map_err(|(path, message)| CudaError::NvrtcLoad {
            env: NVRTC_ENV,
            path,
            message,
        })
}

/// Fails unless the NVRTC library can be opened.
pub fn require_nvrtc() -> Result<()> {
    preload_nvrtc()?;
    // SAFETY: only tries to open the library by its candidate names; nothing is called.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::NoNvrtc { env: NVRTC_ENV })
    }
}

/// Fails unless the CUDA driver library can be opened.
pub fn require_driver() -> Result<()> {
    // SAFETY: as above.
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::NoDriver)
    }
}

/// Whether a driver and at least one device exist (cheap; for choosing a default backend).
pub fn is_available() -> bool {
    require_driver().is_ok() && cudarc::driver::CudaContext::device_count().is_ok_and(|n| n > 0)
}
