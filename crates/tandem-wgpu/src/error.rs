//! The error type of `tandem-wgpu`. Every variant converts into [`tandem_tensor::Error::Backend`]
//! so model code sees one error type whatever the device.

/// What can go wrong on the wgpu backend. Device setup failures name the fix.
#[derive(Debug, thiserror::Error)]
pub enum WgpuError {
    #[error(
        "no GPU adapter found (Vulkan, Metal or DX12). On Debian/Ubuntu without a GPU, install Mesa's \
         software Vulkan driver: `apt-get install mesa-vulkan-drivers libvulkan1`"
    )]
    NoAdapter,

    #[error("TANDEM_WGPU_ADAPTER={wanted:?} matches none of the adapters found: {available:?}")]
    AdapterNotFound {
        wanted: String,
        available: Vec<String>,
    },

    #[error("adapter {adapter} refused a device: {source}")]
    RequestDevice {
        adapter: String,
        source: wgpu::RequestDeviceError,
    },

    #[error("{op}: dtype {dtype} is not supported on this adapter{hint}")]
    UnsupportedDType {
        op: &'static str,
        dtype: tandem_tensor::DType,
        hint: &'static str,
    },

    #[error("{op}: {bytes} bytes exceeds the adapter's buffer limit of {limit} bytes")]
    TooLarge {
        op: &'static str,
        bytes: u64,
        limit: u64,
    },

    #[error("{op}: {message}")]
    Unsupported { op: &'static str, message: String },

    #[error("kernel {kernel} failed to compile or validate: {message}")]
    Kernel { kernel: String, message: String },

    #[error("out of device memory allocating {bytes} bytes")]
    OutOfMemory { bytes: u64 },

    #[error("device error: {message}")]
    Device { message: String },

    #[error("reading back {bytes} bytes failed: {message}")]
    Readback { bytes: u64, message: String },
}

impl From<WgpuError> for tandem_tensor::Error {
    fn from(e: WgpuError) -> Self {
        match e {
            WgpuError::OutOfMemory { bytes } => tandem_tensor::Error::OutOfMemory {
                backend: "wgpu".into(),
                requested_bytes: bytes,
            },
            other => tandem_tensor::Error::backend("wgpu", other),
        }
    }
}

pub type Result<T> = std::result::Result<T, WgpuError>;
