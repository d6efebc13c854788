//! The CPU backend: the default device and the reference every other backend is checked against
//! (together with the conformance suite's naive reference).
//!
//! Multi-threaded with rayon (the global pool: size it with `RAYON_NUM_THREADS`), SIMD GEMM from
//! the `gemm` crate, fused softmax / layer norm / attention kernels.

pub mod ops;
mod storage;

pub use storage::CpuStorage;

use crate::layout::Layout;
use crate::op::{Activation, AttentionSpec, BinaryOp, MatmulSpec, ReduceOp, UnaryOp};
use crate::{Backend, DType, Error, PackedRhs, PanelLayout, Result, Tensor};
use ops::attention::Operand;

/// Host memory and the machine's cores. Stateless and free to clone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuBackend;

fn rows_cols(t: &Tensor<CpuBackend>) -> (usize, usize) {
    let cols = *t.dims().last().unwrap_or(&1);
    (t.elem_count().checked_div(cols).unwrap_or(0), cols)
}

fn operand(t: &Tensor<CpuBackend>) -> Operand<'_> {
    Operand {
        storage: t.storage(),
        layout: t.layout(),
    }
}

/// The `n` values of a bias vector (contiguous from its layout's offset) as f32, or an error
/// naming `op` when its storage is shorter: a layout built by hand (`Tensor::from_shared`) that
/// would otherwise index past the end.
fn bias_values<'a>(
    op: &'static str,
    bias: Option<&'a Tensor<CpuBackend>>,
    n: usize,
) -> Result<Option<std::borrow::Cow<'a, [f32]>>> {
    let Some(b) = bias else {
        return Ok(None);
    };
    let start = b.layout().offset();
    let values = b.storage().as_f32();
    if values.len() < start + n {
        return Err(Error::invalid(
            op,
            format!(
                "bias of {n} values from element {start} runs past the end of its storage ({} elements)",
                values.len()
            ),
        ));
    }
    Ok(Some(match values {
        std::borrow::Cow::Borrowed(v) => std::borrow::Cow::Borrowed(&v[start..start + n]),
        std::borrow::Cow::Owned(v) => std::borrow::Cow::Owned(v[start..start + n].to_vec()),
    }))
}

fn wrap(storage: CpuStorage, like: &Tensor<CpuBackend>) -> Tensor<CpuBackend> {
    Tensor::from_storage(storage, like.dims(), like.dtype(), CpuBackend)
}

impl Backend for CpuBackend {
    type Storage = CpuStorage;

    fn name(&self) -> String {
        "cpu".into()
    }

    fn same_device(&self, _other: &Self) -> bool {
        true
    }

    fn upload(&self, bytes: &[u8], dtype: DType) -> Result<CpuStorage> {
        CpuStorage::from_bytes(bytes, dtype)
    }

    fn read_bytes(
        &self,
        storage: &CpuStorage,
        _dtype: DType,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>> {
        storage.bytes(offset, len)
    }

    fn full(&self, value: f64, len: usize, dtype: DType) -> Result<CpuStorage> {
        Ok(match dtype {
            DType::U32 => CpuStorage::U32(vec![value as u32; len]),
            DType::I64 => CpuStorage::I64(vec![value as i64; len]),
            float => CpuStorage::from_f32(vec![value as f32; len], float),
        })
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// bf16 weights the backend does not pack ([`Backend::panel_layout`]: CPUs without
    /// AVX512-BF16, or `TANDEM_CPU_BF16_PANELS=off`) stay `[out, in]`: a decoder step's few
    /// rows then run on the skinny bf16 kernel, which dots contiguous weight rows read once at
    /// 2 bytes (`matmul_skinny`), and larger products pack either layout for the bf16 matrix
    /// engines (`gemm_bf16`). Measured on `tandem caption --dtype bf16` (2 images, full-size
    /// BLIP + CLIP, 2 threads, Xeon with AMX): 9.2 s with the `[in, out]` copy, 4.7 s without.
    fn linear_weight_as_stored(&self, dtype: DType) -> bool {
        dtype == DType::BF16
    }

    /// f32 on AVX-512F (plain panels of 32 columns) or AVX2 + FMA (16):
    /// [`ops::matmul_panels`]. bf16 on a CPU with a bf16 GEMM kernel and AVX512-BF16: 32-column
    /// panels of depth pairs ([`ops::gemm_bf16::PANEL_LAYOUT`]), read by
    /// [`ops::gemm_bf16::rows`] (every product without AMX, up to 64 rows with it) and AMX tiles.
    fn panel_layout(&self, dtype: DType) -> Option<PanelLayout> {
        match dtype {
            DType::F32 => ops::matmul_panels::selected().map(|k| PanelLayout::plain(k.width())),
            DType::BF16 if ops::gemm_bf16::packs_weights() => Some(ops::gemm_bf16::PANEL_LAYOUT),
            _ => None,
        }
    }

    /// Plain layouts in one pass for every dtype, bf16 in the bf16 kernels' layout in one pass
    /// (aligned to cache lines); others by the trait's composition.
    fn pack_panels(&self, rhs: &Tensor<Self>, layout: PanelLayout) -> Result<Tensor<Self>> {
        crate::packed::check_pack(rhs, layout)?;
        let (k, n) = (rhs.dims()[0], rhs.dims()[1]);
        let dims = layout.dims(k, n)?;
        if layout == ops::gemm_bf16::PANEL_LAYOUT {
            if let Some((storage, start)) =
                ops::gemm_bf16::pack_storage(rhs.storage(), rhs.layout())?
            {
                let strides = crate::layout::contiguous_strides(&dims);
                return Ok(Tensor::from_shared(
                    std::sync::Arc::new(storage),
                    Layout::new(dims.to_vec(), strides, start),
                    rhs.dtype(),
                    *self,
                ));
            }
        }
        if layout != PanelLayout::plain(layout.width) {
            return crate::packed::pack_by_copies(rhs, layout);
        }
        let storage = ops::matmul_panels::pack_storage(rhs.storage(), rhs.layout(), layout.width)?;
        Ok(Tensor::from_storage(storage, &dims, rhs.dtype(), *self))
    }

    fn matmul_panels(
        &self,
        lhs: &Tensor<Self>,
        rhs: &PackedRhs<Self>,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<CpuStorage> {
        crate::packed::check_panels(lhs, rhs, bias)?;
        let layout = rhs.layout();
        if layout == ops::gemm_bf16::PANEL_LAYOUT {
            let bias_f32 = bias_values("matmul_packed", bias, rhs.n())?;
            let done = ops::gemm_bf16::matmul_storage(
                (lhs.storage(), lhs.layout()),
                (rhs.panels().storage(), rhs.panels().layout().offset()),
                rhs.n(),
                bias_f32.as_deref(),
                activation,
            )?;
            if let Some(out) = done {
                return Ok(out);
            }
        }
        let kernel = ops::matmul_panels::for_width(layout.width)
            .filter(|_| layout == PanelLayout::plain(layout.width));
        if let Some(kernel) = kernel {
            let bias = bias_values("matmul_packed", bias, rhs.n())?;
            let done = ops::matmul_panels::matmul_storage(
                kernel,
                lhs.storage(),
                lhs.layout(),
                rhs.panels().storage(),
                rhs.panels().layout().offset(),
                rhs.n(),
                bias.as_deref(),
                activation,
            )?;
            if let Some(out) = done {
                return Ok(out);
            }
        }
        // Another dtype or layout: the trait's composition (unpack, then matmul).
        crate::packed::matmul_unpacked(lhs, rhs, bias, activation)
    }

    fn copy_strided(&self, src: &Tensor<Self>) -> Result<CpuStorage> {
        if src
            .layout()
            .max_storage_index()
            .is_some_and(|i| i >= src.storage().len())
        {
            return Err(Error::invalid(
                "copy",
                "layout addresses past the end of its storage",
            ));
        }
        Ok(ops::copy::copy_strided(src.storage(), src.layout()))
    }

    fn copy_into(
        &self,
        src: &Tensor<Self>,
        dst: &mut CpuStorage,
        dst_layout: &Layout,
    ) -> Result<()> {
        ops::copy::copy_into(src.storage(), src.layout(), dst, dst_layout)
    }

    fn cast(&self, src: &Tensor<Self>, to: DType) -> Result<CpuStorage> {
        Ok(ops::cast::cast(
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
            to,
        ))
    }

    fn unary(&self, op: UnaryOp, src: &Tensor<Self>) -> Result<CpuStorage> {
        Ok(ops::elementwise::unary(
            op,
            src.storage(),
            src.layout().offset(),
            src.elem_count(),
        ))
    }

    fn binary(&self, op: BinaryOp, lhs: &Tensor<Self>, rhs: &Tensor<Self>) -> Result<CpuStorage> {
        Ok(ops::elementwise::binary(
            op,
            lhs.storage(),
            lhs.layout(),
            rhs.storage(),
            rhs.layout(),
            lhs.dtype(),
        ))
    }

    fn reduce_last(&self, op: ReduceOp, src: &Tensor<Self>) -> Result<CpuStorage> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::reduce::reduce_last(
            op,
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
        ))
    }

    fn matmul(
        &self,
        lhs: &CpuStorage,
        rhs: &CpuStorage,
        _dtype: DType,
        spec: &MatmulSpec,
    ) -> Result<CpuStorage> {
        ops::matmul::matmul(lhs, rhs, spec, None, None)
    }

    fn index_select(
        &self,
        src: &Tensor<Self>,
        dim: usize,
        indices: &Tensor<Self>,
    ) -> Result<CpuStorage> {
        let ids = indices.storage().as_indices()?;
        let off = indices.layout().offset();
        let ids = &ids[off..off + indices.elem_count()];
        Ok(ops::index_select::index_select(
            src.storage(),
            src.layout().offset(),
            src.dims(),
            dim,
            ids,
        ))
    }

    fn concat(&self, inputs: &[&Tensor<Self>], dim: usize) -> Result<CpuStorage> {
        let parts: Vec<_> = inputs.iter().map(|t| (t.storage(), t.layout())).collect();
        ops::concat::concat(&parts, dim)
    }

    fn topk_last(&self, src: &Tensor<Self>, k: usize) -> Result<(CpuStorage, CpuStorage)> {
        let (rows, cols) = rows_cols(src);
        Ok(ops::topk::topk_last(
            src.storage(),
            src.layout().offset(),
            rows,
            cols,
            k,
        ))
    }

    fn matmul_fused(
        &self,
        lhs: &CpuStorage,
        rhs: &CpuStorage,
        _dtype: DType,
        spec: &MatmulSpec,
        bias: Option<&Tensor<Self>>,
        activation: Option<Activation>,
    ) -> Result<CpuStorage> {
        let bias = bias_values("matmul", bias, spec.n)?;
        ops::matmul::matmul(lhs, rhs, spec, bias.as_deref(), activation)
    }

    fn softmax_last(
        &self,
        x: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        causal: bool,
    ) -> Result<Tensor<Self>> {
        let mask = mask.map(|m| (m.storage(), m.layout()));
        Ok(wrap(
            ops::softmax::softmax_last(x.storage(), x.layout(), mask, causal),
            x,
        ))
    }

    fn layer_norm(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<Tensor<Self>> {
        let (rows, cols) = rows_cols(x);
        let (g, b) = (gamma.to_vec_f32()?, beta.to_vec_f32()?);
        Ok(wrap(
            ops::layer_norm::layer_norm(x.storage(), x.layout().offset(), rows, cols, &g, &b, eps),
            x,
        ))
    }

    fn add_layer_norm(
        &self,
        x: &Tensor<Self>,
        residual: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        eps: f32,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        let (rows, cols) = rows_cols(x);
        let (g, b) = (gamma.to_vec_f32()?, beta.to_vec_f32()?);
        let (sum, normed) = ops::layer_norm::add_layer_norm(
            x.storage(),
            x.layout().offset(),
            residual.storage(),
            residual.layout().offset(),
            rows,
            cols,
            &g,
            &b,
            eps,
        );
        Ok((wrap(sum, x), wrap(normed, x)))
    }

    fn attention(
        &self,
        q: &Tensor<Self>,
        k: &Tensor<Self>,
        v: &Tensor<Self>,
        mask: Option<&Tensor<Self>>,
        spec: AttentionSpec,
    ) -> Result<Tensor<Self>> {
        let out =
            ops::attention::attention(operand(q), operand(k), operand(v), mask.map(operand), spec)?;
        let dims = [q.dims()[0], q.dims()[1], q.dims()[2], v.dims()[3]];
        Ok(Tensor::from_storage(out, &dims, q.dtype(), CpuBackend))
    }
}
