//! [`WgpuBackend`]: the [`Backend`] implementation that dispatches to the WGSL kernels.

use crate::error::WgpuError;
use crate::ops;
use crate::runtime::adapter::ADAPTER_ENV;
use crate::runtime::kernel::Repr;
use crate::runtime::{Context, Stats};
use crate::storage::WgpuStorage;
use half::{bf16, f16};
use std::sync::{Arc, OnceLock};
use tandem_tensor::layout::{contiguous_strides, Layout};
use tandem_tensor::{
    Activation, AttentionSpec, Backend, BinaryOp, DType, Error, MatmulSpec, ReduceOp, Result,
    Tensor, UnaryOp,
};

/// A GPU (or lavapipe) device behind wgpu. Cheap to clone: clones share the device, the
/// pipeline cache, the buffer pool and the command batch.
#[derive(Clone)]
pub struct WgpuBackend {
    ctx: Arc<Context>,
}

impl std::fmt::Debug for WgpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WgpuBackend({})", self.name())
    }
}

fn rows_cols(t: &Tensor<WgpuBackend>) -> (usize, usize) {
    let cols = *t.dims().last().unwrap_or(&1);
    (t.elem_count().checked_div(cols).unwrap_or(0), cols)
}

impl WgpuBackend {
    /// Opens the best adapter, or the one `TANDEM_WGPU_ADAPTER` names (a substring of its name,
    /// or `discrete`/`integrated`/`cpu`). Fails with an error naming the fix when none exists.
    pub fn new() -> std::result::Result<Self, WgpuError> {
        Self::with_adapter(std::env::var(ADAPTER_ENV).ok().as_deref())
    }

    /// Opens the adapter whose name contains `wanted` (case-insensitive), or the best one.
    pub fn with_adapter(wanted: Option<&str>) -> std::result::Result<Self, WgpuError> {
        Ok(WgpuBackend {
            ctx: Arc::new(Context::new(wanted)?),
        })
    }

    /// One device per process, opened on first use (as [`WgpuBackend::new`]). Tests and
    /// benches use this so they share compiled pipelines and pooled buffers.
    pub fn shared() -> std::result::Result<Self, WgpuError> {
        static SHARED: OnceLock<std::result::Result<WgpuBackend, String>> = OnceLock::new();
        match SHARED.get_or_init(|| WgpuBackend::new().map_err(|e| e.to_string())) {
            Ok(b) => Ok(b.clone()),
            Err(message) => Err(WgpuError::Device {
                message: message.clone(),
            }),
        }
    }

    /// Submission/dispatch/allocation counters.
    pub fn stats(&self) -> Stats {
        self.ctx.stats()
    }

    /// Bytes of device memory held idle in the buffer pool.
    pub fn pooled_bytes(&self) -> u64 {
        self.ctx.idle_bytes()
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.ctx.info
    }

    /// Whether `f16` tensors are stored and loaded as native `f16` (`shader-f16`).
    pub fn native_f16(&self) -> bool {
        self.ctx.native_f16
    }

    pub(crate) fn ctx(&self) -> &Arc<Context> {
        &self.ctx
    }

    pub(crate) fn repr(&self, dtype: DType) -> Repr {
        match dtype {
            DType::F32 => Repr::F32,
            DType::F16 if self.ctx.native_f16 => Repr::F16,
            DType::F16 => Repr::F16InF32,
            DType::BF16 => Repr::Bf16InF32,
            DType::U32 => Repr::U32,
            DType::I64 => Repr::I64,
        }
    }

    fn wrap(&self, storage: WgpuStorage, dims: &[usize], dtype: DType) -> Tensor<Self> {
        Tensor::from_storage(storage, dims, dtype, self.clone())
    }

    /// Bench baseline (feature `naive-kernels`): `a · b` with the naive one-invocation-per-output kernel. `a: [batch, m, k]`
    /// or `[m, k]`, `b: [k, n]` or `[batch, k, n]` (copied contiguous first).
    #[cfg(feature = "naive-kernels")]
    pub fn matmul_naive(&self, a: &Tensor<Self>, b: &Tensor<Self>) -> Result<Tensor<Self>> {
        let (a, b) = (a.contiguous()?, b.contiguous()?);
        let mismatch = || Error::ShapeMismatch {
            op: "matmul_naive",
            lhs: a.dims().to_vec(),
            rhs: b.dims().to_vec(),
        };
        let (ad, bd) = (a.dims(), b.dims());
        if !(2..=3).contains(&ad.len()) || !(2..=3).contains(&bd.len()) || a.dtype() != b.dtype() {
            return Err(mismatch());
        }
        let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
        let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
        let batch = if ad.len() == 3 {
            ad[0]
        } else if bd.len() == 3 {
            bd[0]
        } else {
            1
        };
        if k != k2 || (ad.len() == 3 && bd.len() == 3 && ad[0] != bd[0]) {
            return Err(mismatch());
        }
        let bs = |rank: usize, per: usize| if rank == 3 { per } else { 0 };
        let spec = MatmulSpec {
            batch,
            m,
            n,
            k,
            lhs: tandem_tensor::MatrixRef {
                offset: 0,
                batch_stride: bs(ad.len(), m * k),
                row_stride: k,
                col_stride: 1,
            },
            rhs: tandem_tensor::MatrixRef {
                offset: 0,
                batch_stride: bs(bd.len(), k * n),
                row_stride: n,
                col_stride: 1,
            },
        };
        let out = ops::matmul::matmul_naive(&self.ctx, a.storage(), b.storage(), &spec)?;
        Ok(self.wrap(out, &[batch, m, n], a.dtype()))
    }

    /// Bench baseline (feature `naive-kernels`): attention with the naive one-invocation-per-output kernel (same inputs
    /// as [`tandem_tensor::attention`]: q `[b, h, lq, d]`, k/v `[b, h, lk, d]`, last dim contiguous).
    #[cfg(feature = "naive-kernels")]
    pub fn attention_naive(
        &self,
        q: &Tensor<Self>,
        k: &Tensor<Self>,
        v: &Tensor<Self>,
        spec: AttentionSpec,
    ) -> Result<Tensor<Self>> {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
            return Err(Error::RankMismatch {
                op: "attention_naive",
                expected: 4,
                shape: q.dims().to_vec(),
            });
        }
        let out = ops::attention::attention_naive(self, &q, &k, &v, None, spec)?;
        let dims = [q.dims()[0], q.dims()[1], q.dims()[2], v.dims()[3]];
        Ok(self.wrap(out, &dims, q.dtype()))
    }
}

/// Host bytes of `dtype` → the bytes of its device representation.
fn to_device_bytes(bytes: &[u8], dtype: DType, repr: Repr) -> Vec<u8> {
    let mut out = match (dtype, repr) {
        (DType::F16, Repr::F16InF32) => {
            let v: Vec<f16> = bytemuck::pod_collect_to_vec(bytes);
            v.iter().flat_map(|x| x.to_f32().to_ne_bytes()).collect()
        }
        (DType::BF16, Repr::Bf16InF32) => {
            let v: Vec<bf16> = bytemuck::pod_collect_to_vec(bytes);
            v.iter().flat_map(|x| x.to_f32().to_ne_bytes()).collect()
        }
        _ => bytes.to_vec(),
    };
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

impl Backend for WgpuBackend {
    type Storage = WgpuStorage;

    fn name(&self) -> String {
        format!("wgpu:{}", self.ctx.info.name)
    }

    fn same_device(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ctx, &other.ctx)
    }

    fn upload(&self, bytes: &[u8], dtype: DType) -> Result<WgpuStorage> {
        let size = dtype.size_in_bytes();
        if !bytes.len().is_multiple_of(size) {
            return Err(Error::InvalidArgument {
                op: "upload",
                message: format!("{} bytes is not a whole number of {dtype}", bytes.len()),
            });
        }
        let repr = self.repr(dtype);
        let data = to_device_bytes(bytes, dtype, repr);
        let buffer = self.ctx.acquire("upload", data.len().max(4) as u64, true)?;
        if !data.is_empty() {
            self.ctx.queue.write_buffer(&buffer, 0, &data);
        }
        Ok(WgpuStorage::new(
            buffer,
            bytes.len() / size,
            repr,
            self.ctx.clone(),
        ))
    }

    fn read_bytes(
        &self,
        storage: &WgpuStorage,
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
        let rb = storage.repr().bytes();
        let (start, end) = (offset * rb, (offset + len) * rb);
        let aligned = start / 4 * 4;
        let raw = self.ctx.read(
            storage.buffer(),
            aligned as u64,
            ((end - aligned).div_ceil(4) * 4) as u64,
        )?;
        let raw = raw.get(start - aligned..end - aligned).unwrap_or(&[]);
        Ok(match (dtype, storage.repr()) {
            (DType::F16, Repr::F16InF32) => {
                let v: Vec<f32> = bytemuck::pod_collect_to_vec(raw);
                v.iter()
                    .flat_map(|&x| f16::from_f32(x).to_ne_bytes())
                    .collect()
            }
            (DType::BF16, Repr::Bf16InF32) => {
                let v: Vec<f32> = bytemuck::pod_collect_to_vec(raw);
                v.iter()
                    .flat_map(|&x| bf16::from_f32(x).to_ne_bytes())
                    .collect()
            }
            _ => raw.to_vec(),
        })
    }

    fn full(&self, value: f64, len: usize, dtype: DType) -> Result<WgpuStorage> {
        Ok(ops::fill::full(&self.ctx, value, len, self.repr(dtype))?)
    }

    fn synchronize(&self) -> Result<()> {
        Ok(self.ctx.synchronize()?)
    }

    fn copy_strided(&self, src: &Tensor<Self>) -> Result<WgpuStorage> {
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
            &self.ctx,
            src.storage(),
            l.dims(),
            l.strides(),
            l.offset(),
        )?)
    }

    fn copy_into(
        &self,
        src: &Tensor<Self>,
        dst: &mut WgpuStorage,
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
        if src.storage().repr() != dst.repr() {
            return Err(Error::InvalidArgument {
                op: "copy_into",
                message: format!(
                    "source {:?} and destination {:?} hold different dtypes",
                    src.storage().repr(),
                    dst.repr()
                ),
            });
        }
        Ok(ops::copy::copy_into(
            &self.ctx,
            src.storage(),
            l.dims(),
            l.strides(),
            l.offset(),
            dst,
            dst_layout.strides(),
            dst_layout.offset(),
        )?)
    }

    fn cast(&self, src: &Tensor<Self>, to: DType) -> Result<WgpuStorage> {
        Ok(ops::cast::cast(
            &self.ctx,
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
            self.repr(to),
        )?)
    }

    fn unary(&self, op: UnaryOp, src: &Tensor<Self>) -> Result<WgpuStorage> {
        Ok(ops::unary::unary(
            &self.ctx,
            op,
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
        )?)
    }

    fn binary(&self, op: BinaryOp, lhs: &Tensor<Self>, rhs: &Tensor<Self>) -> Result<WgpuStorage> {
        Ok(ops::binary::binary(self, op, lhs, rhs)?)
    }

    fn reduce_last(&self, op: ReduceOp, src: &Tensor<Self>) -> Result<WgpuStorage> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::reduce::reduce_last(
            &self.ctx,
            op,
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
        )?)
    }

    fn matmul(
        &self,
        lhs: &WgpuStorage,
        rhs: &WgpuStorage,
        _dtype: DType,
        spec: &MatmulSpec,
    ) -> Result<WgpuStorage> {
        Ok(ops::matmul::matmul(&self.ctx, lhs, rhs, spec, None, None)?)
    }

    fn index_select(
        &self,
        src: &Tensor<Self>,
        dim: usize,
        indices: &Tensor<Self>,
    ) -> Result<WgpuStorage> {
        Ok(ops::index_select::index_select(
            &self.ctx,
            src.storage(),
            src.layout().offset(),
            src.dims(),
            dim,
            indices.storage(),
            indices.layout().offset(),
            indices.elem_count(),
        )?)
    }

    fn concat(&self, inputs: &[&Tensor<Self>], dim: usize) -> Result<WgpuStorage> {
        let first = inputs.first().ok_or_else(|| Error::InvalidArgument {
            op: "cat",
            message: "no tensors to concatenate".into(),
        })?;
        let mut dims = first.dims().to_vec();
        dims[dim] = inputs.iter().map(|t| t.dims()[dim]).sum();
        let repr = first.storage().repr();
        let out = ops::alloc(&self.ctx, "cat", dims.iter().product(), repr)?;
        let out_strides = contiguous_strides(&dims);
        let mut start = 0;
        for t in inputs {
            if t.storage().repr() != repr {
                return Err(Error::DTypeMismatch {
                    op: "cat",
                    expected: first.dtype(),
                    got: t.dtype(),
                });
            }
            let l = t.layout();
            ops::copy::copy_into(
                &self.ctx,
                t.storage(),
                l.dims(),
                l.strides(),
                l.offset(),
                &out,
                &out_strides,
                start * out_strides[dim],
            )?;
            start += t.dims()[dim];
        }
        Ok(out)
    }

    fn topk_last(&self, src: &Tensor<Self>, k: usize) -> Result<(WgpuStorage, WgpuStorage)> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::topk::topk_last(
            &self.ctx,
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
            k,
        )?)
    }

    fn matmul_fused(
        &self,
        lhs: &WgpuStorage,
        rhs: &WgpuStorage,
        _dtype: DType,
        spec: &MatmulSpec,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<WgpuStorage> {
        let bias = bias.map(|b| (b.storage(), b.layout().offset()));
        Ok(ops::matmul::matmul(
            &self.ctx, lhs, rhs, spec, bias, activation,
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
        // Head dims past the fused kernel's register budget: scores, fused softmax, product.
        let scores = q.matmul(&k.transpose(2, 3)?)?.affine(spec.scale, 0.0)?;
        let probs = self.softmax_last(&scores, mask, spec.causal)?;
        probs.matmul(v)
    }

    fn l2_normalize(&self, x: &Tensor<Self>, eps: f32) -> Result<Tensor<Self>> {
        let out = ops::l2_normalize::l2_normalize(self, x, eps)?;
        Ok(self.wrap(out, x.dims(), x.dtype()))
    }
}
