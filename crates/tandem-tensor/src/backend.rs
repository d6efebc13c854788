//! The [`Backend`] trait: the small set of primitives a device must implement, plus composite ops
//! with default bodies that a backend overrides when it has a fused kernel.
//!
//! Contract shared by every method:
//! - Data is device-resident. Methods enqueue work and may return before it ran; the only
//!   host-visible sync point is [`Backend::read_bytes`] (and [`Backend::synchronize`]).
//! - Inputs were validated by [`Tensor`](crate::Tensor)'s methods (shapes agree, dtypes match,
//!   dims in range) before a backend sees them, so backends only check what is specific to them
//!   (e.g. an unsupported dtype). What each method may assume about layouts is stated on it.
//! - Primitives return a fresh contiguous storage holding exactly the output's elements; the
//!   caller knows the output shape.

use crate::layout::Layout;
use crate::op::{Activation, AttentionSpec, BinaryOp, MatmulSpec, ReduceOp, UnaryOp};
use crate::{DType, Result, Tensor};
use std::fmt::Debug;

pub trait Backend: Clone + Send + Sync + Debug + 'static {
    /// A device buffer (host memory for the CPU, a GPU buffer elsewhere). Cheap to drop.
    type Storage: Send + Sync + 'static;

    /// Human-readable device name, e.g. `cpu` or `wgpu:llvmpipe (LLVM 15, 256 bits)`.
    fn name(&self) -> String;

    /// Whether two backend handles address the same device (tensors may only be combined then).
    fn same_device(&self, other: &Self) -> bool;

    // ----- memory -------------------------------------------------------------------------

    /// Uploads `bytes` (native-endian elements of `dtype`) into new device storage.
    fn upload(&self, bytes: &[u8], dtype: DType) -> Result<Self::Storage>;

    /// Reads `len` elements starting at element `offset`; waits for all queued work (the sync point).
    fn read_bytes(
        &self,
        storage: &Self::Storage,
        dtype: DType,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>>;

    /// New storage of `len` elements, all equal to `value` (converted to `dtype`).
    fn full(&self, value: f64, len: usize, dtype: DType) -> Result<Self::Storage>;

    /// Blocks until queued work is complete (used by benchmarks for honest timings).
    fn synchronize(&self) -> Result<()>;

    /// Whether a `[out, in]` `nn.Linear` weight of `dtype` should stay as stored, used through
    /// a transposed view, rather than be copied once at load into a contiguous `[in, out]`
    /// (what `tandem_nn::Linear` does by default, for kernels that read a row-major right-hand
    /// side faster). True where this backend's kernels read the stored layout at least as well:
    /// keeping it then saves the copy and serves the faster kernel. Default: false.
    fn linear_weight_as_stored(&self, dtype: DType) -> bool {
        let _ = dtype;
        false
    }

    /// Uploads host data the caller gives up, so a backend may keep the buffer alive until an
    /// asynchronous host→device copy has finished (or, for the CPU, keep it without copying) and
    /// return before the copy ran, letting uploads overlap compute. `bytes` are native-endian
    /// elements of `dtype`. The default copies through [`Backend::upload`].
    fn upload_owned(&self, bytes: Vec<u8>, dtype: DType) -> Result<Self::Storage> {
        self.upload(&bytes, dtype)
    }

    /// A handle to the same device with its own queue of work, for one model copy.
    ///
    /// `RunInference` with N model copies on one device loads each copy through its own fork, so
    /// their kernels are independent streams that can overlap (one copy's host work, uploads or
    /// small kernels fill the gaps of another's). Tensors of a fork and of its parent are on the
    /// same device ([`Backend::same_device`]) and may be combined; ordering between streams is
    /// the backend's job (a stream-ordered allocator, events on cross-stream use). Backends with
    /// one queue (CPU, wgpu) return a clone, which is the default.
    fn fork(&self) -> Result<Self> {
        Ok(self.clone())
    }

    /// The layout this backend's panel kernel reads a right-hand side packed once in
    /// ([`crate::PackedRhs`], [`Backend::matmul_panels`]) in `dtype`, or `None` (the default)
    /// when it has no such kernel: `tandem_nn::Linear` then keeps its weight as a matrix.
    /// A backend returns a layout where its packed kernel is at least as fast as its plain
    /// matmul at the shapes `linear` layers run (the CPU: f32 much faster at decoder steps and
    /// within noise at a ViT's 577 rows; `benches/src/bin/packed_linear.rs`).
    fn panel_layout(&self, dtype: DType) -> Option<crate::PanelLayout> {
        let _ = dtype;
        None
    }

    /// Packs the `[k, n]` float matrix `rhs` (any layout) in `layout`: a tensor of `rhs`'s
    /// dtype with dims [`crate::PanelLayout::dims`] and contiguous strides, holding the
    /// elements where [`crate::PackedRhs`] documents and zeros in the padding. It may start at
    /// an offset of its storage (the CPU aligns bf16 panels to cache lines that way). The
    /// default composes primitives (pad, permute, copy); a backend overrides it with one pass.
    fn pack_panels(&self, rhs: &Tensor<Self>, layout: crate::PanelLayout) -> Result<Tensor<Self>> {
        crate::packed::pack_by_copies(rhs, layout)
    }

    /// `act(lhs · rhs + bias)` with `rhs` packed (any layout): `lhs` `[m, k]` (any layout),
    /// `bias` a contiguous `[n]`, all of one float dtype (checked by
    /// [`Tensor::matmul_packed`]). Returns the contiguous `[m, n]` result. The default unpacks
    /// the matrix and calls [`Tensor::matmul_fused`]: correct everywhere, fast nowhere; a
    /// backend with a [`Backend::panel_layout`] overrides it.
    fn matmul_panels(
        &self,
        lhs: &Tensor<Self>,
        rhs: &crate::PackedRhs<Self>,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<Self::Storage> {
        crate::packed::matmul_unpacked(lhs, rhs, bias, activation)
    }

    // ----- primitives ---------------------------------------------------------------------

    /// Materialises any strided layout (including broadcast strides of 0) contiguously.
    fn copy_strided(&self, src: &Tensor<Self>) -> Result<Self::Storage>;

    /// Writes the elements of `src` (any layout, read in row-major order) into the elements of
    /// `dst` that `dst_layout` addresses, in place: the in-place write primitive.
    ///
    /// This is what lets a decoder preallocate its KV cache for the maximum length and append
    /// each step's keys/values into it (O(new) work per step) instead of concatenating (O(total)
    /// per step, O(n²) per sequence); [`Tensor::slice_set`] is the checked entry point.
    ///
    /// Contract (checked by [`Tensor::slice_set`] before a backend sees it):
    /// - `src.dims() == dst_layout.dims()` and `src.dtype()` is the dtype `dst` holds;
    /// - `dst_layout` addresses only elements inside `dst` and never the same element twice
    ///   (no broadcast strides), so the write is well defined in any order;
    /// - `src` does not share storage with `dst` (the caller holds `dst` uniquely: `&mut`).
    ///
    /// Like every op it is enqueued in stream order: work already queued that reads `dst` sees
    /// the old values, work queued afterwards sees the new ones.
    fn copy_into(
        &self,
        src: &Tensor<Self>,
        dst: &mut Self::Storage,
        dst_layout: &Layout,
    ) -> Result<()>;

    /// Converts a contiguous tensor to `to`. Float→int truncates toward zero, as `as` does.
    fn cast(&self, src: &Tensor<Self>, to: DType) -> Result<Self::Storage>;

    /// Elementwise `op` of a contiguous float tensor.
    fn unary(&self, op: UnaryOp, src: &Tensor<Self>) -> Result<Self::Storage>;

    /// Elementwise `op`; `lhs` and `rhs` have the output's dims already (broadcast dims have stride
    /// 0) and any strides; the output is contiguous in those dims.
    fn binary(&self, op: BinaryOp, lhs: &Tensor<Self>, rhs: &Tensor<Self>)
        -> Result<Self::Storage>;

    /// Reduces the last dim of a contiguous tensor (rank ≥ 1). Arg-reductions return `U32`.
    fn reduce_last(&self, op: ReduceOp, src: &Tensor<Self>) -> Result<Self::Storage>;

    /// Batched matmul of two float storages of `dtype`, addressed by `spec` (no copies of
    /// transposed or broadcast operands). Output contiguous `[batch, m, n]`.
    fn matmul(
        &self,
        lhs: &Self::Storage,
        rhs: &Self::Storage,
        dtype: DType,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage>;

    /// Selects entries along `dim` of a contiguous `src` by a contiguous 1-D `U32`/`I64` index
    /// tensor whose values were checked to be in range.
    fn index_select(
        &self,
        src: &Tensor<Self>,
        dim: usize,
        indices: &Tensor<Self>,
    ) -> Result<Self::Storage>;

    /// Concatenates tensors (any strides, equal dtype, equal dims except `dim`) along `dim`.
    fn concat(&self, inputs: &[&Tensor<Self>], dim: usize) -> Result<Self::Storage>;

    /// The `k` largest entries of each row of a contiguous float tensor, sorted descending
    /// (ties: lower index first). Returns (values of the input dtype, `U32` indices).
    fn topk_last(&self, src: &Tensor<Self>, k: usize) -> Result<(Self::Storage, Self::Storage)>;

    // ----- composites (default bodies built from the primitives) --------------------------

    /// `act(lhs · rhs + bias)`, with `bias` a contiguous vector of `n` broadcast over rows.
    fn matmul_fused(
        &self,
        lhs: &Self::Storage,
        rhs: &Self::Storage,
        dtype: DType,
        spec: &MatmulSpec,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<Self::Storage> {
        let out = self.matmul(lhs, rhs, dtype, spec)?;
        let mut t = Tensor::from_storage(out, &[spec.batch, spec.m, spec.n], dtype, self.clone());
        if let Some(bias) = bias {
            t = t.add(bias)?;
        }
        if let Some(act) = activation {
            t = t.unary(act.as_unary())?;
        }
        t.into_contiguous_storage()
    }

    /// Softmax over the last dim of `x` (rank ≥ 2 when `causal`), after adding `mask` (already
    /// broadcast to `x`'s dims). `causal` masks keys after each query's absolute position
    /// (see [`AttentionSpec`]).
    fn softmax_last(
        &self,
        x: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        causal: bool,
    ) -> Result<Tensor<Self>> {
        let mut x = match mask {
            Some(m) => x.add(m)?,
            None => x.clone(),
        };
        if causal {
            x = x.add(&crate::tensor_ops::causal_mask(x.dims(), x.dtype(), self)?)?;
        }
        let max = x.max_keepdim()?;
        let e = x.sub(&max)?.exp()?;
        let sum = e.sum_keepdim()?;
        e.div(&sum)
    }

    /// `log(softmax(x))` over the last dim, computed stably.
    fn log_softmax_last(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        let shifted = x.sub(&x.max_keepdim()?)?;
        let lse = shifted.exp()?.sum_keepdim()?.log()?;
        shifted.sub(&lse)
    }

    /// Layer norm over the last dim with biased variance, as PyTorch computes it.
    fn layer_norm(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<Tensor<Self>> {
        let n = *x.dims().last().unwrap_or(&1) as f32;
        let mean = x.sum_keepdim()?.affine(1.0 / n, 0.0)?;
        let centered = x.sub(&mean)?;
        let var = centered.square()?.sum_keepdim()?.affine(1.0 / n, eps)?;
        centered
            .mul(&var.unary(UnaryOp::Rsqrt)?)?
            .mul(gamma)?
            .add(beta)
    }

    /// The pre-LN transformer step `sum = x + residual`, `normed = layer_norm(sum)`, both
    /// returned: `sum` is the residual stream the block carries on, `normed` feeds the next
    /// sub-layer (post-LN blocks keep only `normed`).
    ///
    /// Contract: `x` and `residual` contiguous with equal dims and dtype; `gamma`/`beta`
    /// contiguous `[last dim]` (checked by [`Tensor::add_layer_norm`]). `sum` is stored in the
    /// dtype and `normed` is the layer norm of that stored sum, so the result is exactly what the
    /// unfused `add` then [`Backend::layer_norm`] give, which is the default body. A backend
    /// fuses it to read the two inputs once and write both outputs in one pass over each row.
    fn add_layer_norm(
        &self,
        x: &Tensor<Self>,
        residual: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        let sum = x.add(residual)?;
        let normed = self.layer_norm(&sum, gamma, beta, eps)?;
        Ok((sum, normed))
    }

    /// Scaled dot-product attention. `q: [b, h, lq, d]`, `k: [b, h, lk, d]`, `v: [b, h, lk, dv]`
    /// with the last dim contiguous (other strides arbitrary, batch may be broadcast); `mask`, if
    /// any, is additive and already broadcast to `[b, h, lq, lk]`. Output contiguous `[b, h, lq, dv]`.
    fn attention(
        &self,
        q: &Tensor<Self>,
        k: &Tensor<Self>,
        v: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        spec: AttentionSpec,
    ) -> Result<Tensor<Self>> {
        let scores = q.matmul(&k.transpose(2, 3)?)?.affine(spec.scale, 0.0)?;
        let probs = self.softmax_last(&scores, mask, spec.causal)?;
        probs.matmul(v)
    }

    /// `x / max(‖x‖₂, eps)` over the last dim (PyTorch's `F.normalize`).
    ///
    /// The sum of squares is taken in f32 whatever `x`'s dtype, as PyTorch's `norm` accumulates
    /// f16/bf16 in float: squaring in f16 sends any |x| below ~2.4e-3 into subnormals (or to
    /// zero), and a row of one such element came out 4.5% off unit length. The norm is then
    /// rounded to `x`'s dtype before the division, as `F.normalize` divides by a half-precision
    /// norm.
    fn l2_normalize(&self, x: &Tensor<Self>, eps: f32) -> Result<Tensor<Self>> {
        let norm = x
            .to_dtype(DType::F32)?
            .square()?
            .sum_keepdim()?
            .sqrt()?
            .to_dtype(x.dtype())?;
        let floor = Tensor::full(self, eps as f64, &[1], x.dtype())?;
        x.div(&norm.maximum(&floor)?)
    }
}
