//! [`CudaBackend`]: the [`Backend`] implementation that launches the kernels of
//! `kernels/cuda/` on one stream of one GPU.

use crate::error::CudaError;
use crate::ops;
use crate::runtime::{library, Device, MemoryReport, Stats};
use crate::storage::CudaStorage;
use cudarc::driver::CudaStream;
use std::sync::Arc;
use tandem_tensor::layout::{contiguous_strides, Layout};
use tandem_tensor::{
    Activation, AttentionSpec, Backend, BinaryOp, DType, Error, MatmulSpec, ReduceOp, Result,
    Tensor, UnaryOp,
};

/// One stream on one NVIDIA GPU. Cheap to clone (clones share the stream); [`Backend::fork`]
/// gives another stream on the same device for another model copy.
#[derive(Clone)]
pub struct CudaBackend {
    device: Arc<Device>,
    stream: Arc<CudaStream>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaBackend({})", self.name())
    }
}

fn rows_cols(t: &Tensor<CudaBackend>) -> (usize, usize) {
    let cols = *t.dims().last().unwrap_or(&1);
    (t.elem_count().checked_div(cols).unwrap_or(0), cols)
}

impl CudaBackend {
    /// Opens GPU `ordinal` with a stream of its own. Without a driver, NVRTC, or that device,
    /// returns an error naming the fix (never panics).
    pub fn new(ordinal: usize) -> std::result::Result<Self, CudaError> {
        let device = Device::open(ordinal)?;
        let stream = device.new_stream()?;
        Ok(CudaBackend { device, stream })
    }

    /// Whether a driver and at least one GPU are present (no context is created).
    pub fn is_available() -> bool {
        library::is_available()
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Allocation / launch / compile counters of the device (all streams).
    pub fn stats(&self) -> Stats {
        self.device.stats()
    }

    /// Device memory: total, free, held by live tensors (and its peak), idle in the pool.
    pub fn memory(&self) -> std::result::Result<MemoryReport, CudaError> {
        self.device.memory()
    }

    fn wrap(&self, storage: CudaStorage, dims: &[usize], dtype: DType) -> Tensor<Self> {
        Tensor::from_storage(storage, dims, dtype, self.clone())
    }

    fn check_upload(bytes: usize, dtype: DType) -> Result<()> {
        if !bytes.is_multiple_of(dtype.size_in_bytes()) {
            return Err(Error::InvalidArgument {
                op: "upload",
                message: format!("{bytes} bytes is not a whole number of {dtype}"),
            });
        }
        Ok(())
    }
}

impl Backend for CudaBackend {
    type Storage = CudaStorage;

    fn name(&self) -> String {
        format!("cuda:{} ({})", self.device.name(), self.device.arch())
    }

    fn same_device(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.device, &other.device)
    }

    fn upload(&self, bytes: &[u8], dtype: DType) -> Result<CudaStorage> {
        Self::check_upload(bytes.len(), dtype)?;
        let mut buf = self.device.alloc(&self.stream, bytes.len().max(1))?;
        if !bytes.is_empty() {
            let mut dst =
                buf.try_slice_mut(0..bytes.len())
                    .ok_or_else(|| CudaError::Unsupported {
                        op: "upload",
                        message: "buffer smaller than its size class".into(),
                    })?;
            self.stream
                .memcpy_htod(bytes, &mut dst)
                .map_err(CudaError::driver("upload"))?;
        }
        Ok(CudaStorage::new(
            buf,
            bytes.len() / dtype.size_in_bytes(),
            dtype,
            self.device.clone(),
        ))
    }

    /// Copies into a pinned staging buffer and enqueues an asynchronous copy from it, so the
    /// call returns before the transfer ran and the transfer overlaps queued kernels. The
    /// staging buffer is reused once its copy has finished.
    fn upload_owned(&self, bytes: Vec<u8>, dtype: DType) -> Result<CudaStorage> {
        Self::check_upload(bytes.len(), dtype)?;
        if bytes.is_empty() {
            return self.upload(&bytes, dtype);
        }
        let mut staging = self.device.staging(bytes.len())?;
        staging
            .as_mut_slice()
            .map_err(CudaError::driver("staging"))?[..bytes.len()]
            .copy_from_slice(&bytes);
        let mut buf = self.device.alloc(&self.stream, bytes.len())?;
        // Size classes of staging and device buffers agree, so the whole staging buffer fits.
        self.stream
            .memcpy_htod(&staging, &mut buf)
            .map_err(CudaError::driver("upload"))?;
        self.device.return_staging(staging);
        Ok(CudaStorage::new(
            buf,
            bytes.len() / dtype.size_in_bytes(),
            dtype,
            self.device.clone(),
        ))
    }

    fn read_bytes(
        &self,
        storage: &CudaStorage,
        dtype: DType,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>> {
        if offset + len > storage.len() {
            return Err(Error::IndexOutOfRange {
                op: "read",
                index: offset + len,
                size: storage.len(),
            });
        }
        let size = dtype.size_in_bytes();
        let mut out = vec![0u8; len * size];
        if len > 0 {
            let src = storage
                .buf()
                .try_slice(offset * size..(offset + len) * size)
                .ok_or_else(|| CudaError::Unsupported {
                    op: "read",
                    message: "range past its storage".into(),
                })?;
            self.stream
                .memcpy_dtoh(&src, &mut out)
                .map_err(CudaError::driver("read back"))?;
        }
        // The sync point: everything queued on this stream (and the copy) has finished.
        self.stream
            .synchronize()
            .map_err(CudaError::driver("synchronize"))?;
        Ok(out)
    }

    fn full(&self, value: f64, len: usize, dtype: DType) -> Result<CudaStorage> {
        Ok(ops::fill::full(self, value, len, dtype)?)
    }

    fn synchronize(&self) -> Result<()> {
        Ok(self
            .stream
            .synchronize()
            .map_err(CudaError::driver("synchronize"))?)
    }

    fn fork(&self) -> Result<Self> {
        Ok(CudaBackend {
            device: self.device.clone(),
            stream: self.device.new_stream()?,
        })
    }

    fn copy_strided(&self, src: &Tensor<Self>) -> Result<CudaStorage> {
        let l = src.layout();
        if l.max_storage_index()
            .is_some_and(|i| i >= src.storage().len())
        {
            return Err(Error::InvalidArgument {
                op: "copy",
                message: "layout addresses past the end of its storage".into(),
            });
        }
        Ok(ops::copy::copy_strided(
            self,
            src.storage(),
            l.dims(),
            l.strides(),
            l.offset(),
        )?)
    }

    fn copy_into(
        &self,
        src: &Tensor<Self>,
        dst: &mut CudaStorage,
        dst_layout: &Layout,
    ) -> Result<()> {
        let l = src.layout();
        if l.max_storage_index()
            .is_some_and(|i| i >= src.storage().len())
        {
            return Err(Error::InvalidArgument {
                op: "copy_into",
                message: "source layout addresses past the end of its storage".into(),
            });
        }
        if dst_layout
            .max_storage_index()
            .is_some_and(|i| i >= dst.len())
        {
            return Err(Error::InvalidArgument {
                op: "copy_into",
                message: "destination layout addresses past the end of its storage".into(),
            });
        }
        if src.dtype() != dst.dtype() {
            return Err(Error::DTypeMismatch {
                op: "copy_into",
                expected: dst.dtype(),
                got: src.dtype(),
            });
        }
        Ok(ops::copy::copy_into(
            self,
            src.storage(),
            l.dims(),
            l.strides(),
            l.offset(),
            dst,
            dst_layout.strides(),
            dst_layout.offset(),
        )?)
    }

    fn cast(&self, src: &Tensor<Self>, to: DType) -> Result<CudaStorage> {
        Ok(ops::cast::cast(
            self,
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
            to,
        )?)
    }

    fn unary(&self, op: UnaryOp, src: &Tensor<Self>) -> Result<CudaStorage> {
        Ok(ops::unary::unary(
            self,
            op,
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
        )?)
    }

    fn binary(&self, op: BinaryOp, lhs: &Tensor<Self>, rhs: &Tensor<Self>) -> Result<CudaStorage> {
        Ok(ops::binary::binary(self, op, lhs, rhs)?)
    }

    fn reduce_last(&self, op: ReduceOp, src: &Tensor<Self>) -> Result<CudaStorage> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::reduce::reduce_last(
            self,
            op,
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
        )?)
    }

    fn matmul(
        &self,
        lhs: &CudaStorage,
        rhs: &CudaStorage,
        dtype: DType,
        spec: &MatmulSpec,
    ) -> Result<CudaStorage> {
        Ok(ops::matmul::matmul(
            self, lhs, rhs, dtype, spec, None, None,
        )?)
    }

    fn index_select(
        &self,
        src: &Tensor<Self>,
        dim: usize,
        indices: &Tensor<Self>,
    ) -> Result<CudaStorage> {
        Ok(ops::index_select::index_select(self, src, dim, indices)?)
    }

    fn concat(&self, inputs: &[&Tensor<Self>], dim: usize) -> Result<CudaStorage> {
        let first = inputs.first().ok_or_else(|| Error::InvalidArgument {
            op: "cat",
            message: "no tensors to concatenate".into(),
        })?;
        let mut dims = first.dims().to_vec();
        dims[dim] = inputs.iter().map(|t| t.dims()[dim]).sum();
        let mut out = ops::alloc(self, dims.iter().product(), first.dtype())?;
        let out_strides = contiguous_strides(&dims);
        let mut start = 0;
        for t in inputs {
            let l = t.layout();
            ops::copy::copy_into(
                self,
                t.storage(),
                l.dims(),
                l.strides(),
                l.offset(),
                &mut out,
                &out_strides,
                start * out_strides[dim],
            )?;
            start += t.dims()[dim];
        }
        Ok(out)
    }

    fn topk_last(&self, src: &Tensor<Self>, k: usize) -> Result<(CudaStorage, CudaStorage)> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::topk::topk_last(
            self,
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
            k,
        )?)
    }

    fn matmul_fused(
        &self,
        lhs: &CudaStorage,
        rhs: &CudaStorage,
        dtype: DType,
        spec: &MatmulSpec,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<CudaStorage> {
        // `Tensor::matmul_fused` hands over a contiguous bias starting at offset 0.
        Ok(ops::matmul::matmul(
            self,
            lhs,
            rhs,
            dtype,
            spec,
            bias.map(|b| b.storage()),
            activation,
        )?)
    }

    fn softmax_last(
        &self,
        x: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        causal: bool,
    ) -> Result<Tensor<Self>> {
        let out = ops::softmax::softmax(self, x, mask, causal, false)?;
        Ok(self.wrap(out, x.dims(), x.dtype()))
    }

    fn log_softmax_last(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        let out = ops::softmax::softmax(self, x, None, false, true)?;
        Ok(self.wrap(out, x.dims(), x.dtype()))
    }

    fn layer_norm(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<Tensor<Self>> {
        let out = ops::layer_norm::layer_norm(self, x, gamma, beta, eps)?;
        Ok(self.wrap(out, x.dims(), x.dtype()))
    }

    fn add_layer_norm(
        &self,
        x: &Tensor<Self>,
        residual: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        let (sum, normed) =
            ops::add_layer_norm::add_layer_norm(self, x, residual, gamma, beta, eps)?;
        Ok((
            self.wrap(sum, x.dims(), x.dtype()),
            self.wrap(normed, x.dims(), x.dtype()),
        ))
    }

    fn attention(
        &self,
        q: &Tensor<Self>,
        k: &Tensor<Self>,
        v: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        spec: AttentionSpec,
    ) -> Result<Tensor<Self>> {
        let dims = [q.dims()[0], q.dims()[1], q.dims()[2], v.dims()[3]];
        if let Some(out) = ops::attention::attention(self, q, k, v, mask, spec)? {
            return Ok(self.wrap(out, &dims, q.dtype()));
        }
        // Head dims past the fused kernel's registers (> 128): scores, fused softmax, product.
        let scores = q.matmul(&k.transpose(2, 3)?)?.affine(spec.scale, 0.0)?;
        let probs = self.softmax_last(&scores, mask, spec.causal)?;
        probs.matmul(v)
    }

    fn l2_normalize(&self, x: &Tensor<Self>, eps: f32) -> Result<Tensor<Self>> {
        let out = ops::l2_normalize::l2_normalize(self, x, eps)?;
        Ok(self.wrap(out, x.dims(), x.dtype()))
    }
}
