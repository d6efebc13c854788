//! The error type of `tandem-cuda`. Every variant converts into [`tandem_tensor::Error`]
//! (out-of-memory into the structured [`tandem_tensor::Error::OutOfMemory`], everything else
//! into [`tandem_tensor::Error::Backend`] with this error as its source), so model code sees one
//! error type whatever the device, and the batcher can still tell OOM from bad data.

/// What can go wrong on the CUDA backend. Setup failures name the fix; nothing here panics.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error(
        "the CUDA driver library (libcuda.so) was not found: this machine has no NVIDIA driver \
         installed, or it is not on the loader path (LD_LIBRARY_PATH). Use `--backend cpu` or `wgpu` here"
    )]
    NoDriver,

    #[error(
        "the NVRTC library (libnvrtc.so.12) was not found, so the kernels cannot be compiled. Install \
         the CUDA toolkit, or `pip install nvidia-cuda-nvrtc-cu12` and point {env} at its \
         nvidia/cuda_nvrtc/lib/libnvrtc.so.12 (or add that folder to LD_LIBRARY_PATH)"
    )]
    NoNvrtc { env: &'static str },

    #[error("{path}: could not load the NVRTC library named by {env}: {message}")]
    NvrtcLoad {
        env: &'static str,
        path: String,
        message: String,
    },

    #[error("CUDA device {ordinal} does not exist: the driver reports {count} device(s)")]
    NoDevice { ordinal: usize, count: usize },

    #[error("CUDA device {name} has compute capability {major}.{minor}; the kernels need 8.0 (Ampere) or newer")]
    UnsupportedArch {
        name: String,
        major: i32,
        minor: i32,
    },

    #[error("CUDA driver error during {during}: {source}")]
    Driver {
        during: &'static str,
        #[source]
        source: cudarc::driver::DriverError,
    },

    #[error("kernel {op}.cu failed to compile for {arch} with NVRTC:\n{log}")]
    Compile {
        op: String,
        arch: String,
        log: String,
    },

    #[error("NVRTC error during {during} of {op}.cu: {message}")]
    Nvrtc {
        op: String,
        during: &'static str,
        message: String,
    },

    #[error("kernel {op}.cu spills registers on {arch} ({detail}); that is not accepted for this kernel")]
    Spill {
        op: String,
        arch: String,
        detail: String,
    },

    #[error("out of device memory allocating {bytes} bytes")]
    OutOfMemory { bytes: u64 },

    #[error("{op}: dtype {dtype} is not supported by the CUDA backend for this op")]
    UnsupportedDType {
        op: &'static str,
        dtype: tandem_tensor::DType,
    },

    #[error("{op}: {message}")]
    Unsupported { op: &'static str, message: String },

    #[error("kernel cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl CudaError {
    pub(crate) fn driver(
        during: &'static str,
    ) -> impl FnOnce(cudarc::driver::DriverError) -> CudaError {
        move |source| {
            if source.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
                CudaError::OutOfMemory { bytes: 0 }
            } else {
                CudaError::Driver { during, source }
            }
        }
    }
}

impl From<CudaError> for tandem_tensor::Error {
    fn from(e: CudaError) -> Self {
        match e {
            CudaError::OutOfMemory { bytes } => tandem_tensor::Error::OutOfMemory {
                backend: "cuda".into(),
                requested_bytes: bytes,
            },
            other => tandem_tensor::Error::backend("cuda", other),
        }
    }
}

pub type Result<T> = std::result::Result<T, CudaError>;
