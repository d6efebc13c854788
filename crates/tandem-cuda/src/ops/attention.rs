//! Fused flash attention (`attention.cu`): online softmax, no score matrix in memory, for
//! self-attention over a KV cache (causal, queries at the end of the keys) and cross-attention.
//! Two kernels: tensor cores (64 query rows a block) for bf16/f16 whenever the queries fill
//! at least a warp's 16 rows and the operands' rows can be copied with `cp.async`; the SIMT
//! kernel (4 rows a block) otherwise: f32, decoding's single rows, unaligned views.

use super::{alloc, fits_u32, launched, require_float};
use crate::error::{CudaError, Result};
use crate::storage::CudaStorage;
use crate::CudaBackend;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
use tandem_tensor::{AttentionSpec, DType, Tensor};

/// Query rows (warps) per block of the SIMT kernel, as `ATT_ROWS` in it.
const ROWS: usize = 4;
/// Query rows per block of the tensor-core kernel (4 warps × 16), as `TC_ROWS` in it.
const TC_ROWS: usize = 64;
/// Threads per block of both kernels (4 warps).
const THREADS: u32 = 128;
/// Fewest query rows for the tensor-core kernel: below one m16 tile most of its work is padding.
const TC_MIN_ROWS: usize = 16;

/// `AttentionParams` of `attention.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct AttentionParams {
    heads: u32,
    q_len: u32,
    kv_len: u32,
    d: u32,
    dv: u32,
    causal: u32,
    has_mask: u32,
    scale: f32,
    q: [u64; 4],
    k: [u64; 4],
    v: [u64; 4],
    m: [u64; 5],
}

// SAFETY: `#[repr(C)]`: 7 × u32 and an f32 (32 bytes), then 17 × u64, as the CUDA struct
// (whose u64 fields are `offset, batch, head, seq[, key]` in that order).
unsafe impl DeviceRepr for AttentionParams {}

/// The kernel variant for a head dim, or `None` when it exceeds the fused kernel's registers
/// (the caller then falls back to matmul + softmax + matmul).
pub fn variant(d: usize, dv: usize) -> Option<&'static str> {
    match d.max(dv) {
        0..=64 => Some("d64"),
        65..=128 => Some("d128"),
        _ => None,
    }
}

/// Whether the tensor-core kernel takes this call: a half dtype, enough query rows, and rows of
/// q, k and v that `cp.async` can copy (head dims, offsets and strides multiples of 8 elements).
fn tensor_cores(dtype: DType, lq: usize, d: usize, dv: usize, views: &[[u64; 4]]) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
        && lq >= TC_MIN_ROWS
        && d.is_multiple_of(8)
        && dv.is_multiple_of(8)
        && views.iter().flatten().all(|x| x.is_multiple_of(8))
}

fn strides4(t: &Tensor<CudaBackend>) -> [u64; 4] {
    let s = t.layout().strides();
    [
        t.layout().offset() as u64,
        s[0] as u64,
        s[1] as u64,
        s[2] as u64,
    ]
}

/// q `[b, h, lq, d]`, k `[b, h, lk, d]`, v `[b, h, lk, dv]` (last dims contiguous), mask
/// broadcast to `[b, h, lq, lk]`. `None` when the head dim has no fused variant.
pub fn attention(
    be: &CudaBackend,
    q: &Tensor<CudaBackend>,
    k: &Tensor<CudaBackend>,
    v: &Tensor<CudaBackend>,
    mask: Option<&Tensor<CudaBackend>>,
    spec: AttentionSpec,
) -> Result<Option<CudaStorage>> {
    require_float("attention", q.dtype())?;
    let (b, h, lq, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (lk, dv) = (k.dims()[2], v.dims()[3]);
    let Some(var) = variant(d, dv) else {
        return Ok(None);
    };
    for t in [q, k, v] {
        if t.dims()[3] > 1 && t.layout().strides()[3] != 1 {
            return Err(CudaError::Unsupported {
                op: "attention",
                message: "last dim must be contiguous".into(),
            });
        }
    }
    let mut out = alloc(be, b * h * lq * dv, q.dtype())?;
    if b * h * lq * dv == 0 {
        return Ok(Some(out));
    }
    let mut p = AttentionParams {
        heads: fits_u32("attention", h)?,
        q_len: fits_u32("attention", lq)?,
        kv_len: fits_u32("attention", lk)?,
        d: d as u32,
        dv: dv as u32,
        causal: spec.causal as u32,
        has_mask: mask.is_some() as u32,
        scale: spec.scale,
        q: strides4(q),
        k: strides4(k),
        v: strides4(v),
        m: [0; 5],
    };
    if let Some(m) = mask {
        let s = m.layout().strides();
        p.m = [
            m.layout().offset() as u64,
            s[0] as u64,
            s[1] as u64,
            s[2] as u64,
            s[3] as u64,
        ];
    }
    if h > 65_535 || b > 65_535 {
        return Err(CudaError::Unsupported {
            op: "attention",
            message: format!("batch {b} × heads {h} exceed the launch grid"),
        });
    }
    let tc = tensor_cores(q.dtype(), lq, d, dv, &[p.q, p.k, p.v]);
    let (rows, kernel) = if tc {
        (TC_ROWS, "attention_tc")
    } else {
        (ROWS, "attention")
    };
    let cfg = LaunchConfig {
        grid_dim: (
            fits_u32("attention", lq.div_ceil(rows))?,
            h as u32,
            b as u32,
        ),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let f = be.device().function(
        "attention",
        &format!("{kernel}_{}_{var}", q.dtype().as_str()),
    )?;
    let null = 0u64;
    let mut l = be.stream().launch_builder(&f);
    l.arg(q.storage().buf())
        .arg(k.storage().buf())
        .arg(v.storage().buf());
    match mask {
        Some(m) => l.arg(m.storage().buf()),
        None => l.arg(&null),
    };
    l.arg(out.buf_mut()).arg(&p);
    // SAFETY: arguments match both kernels' `(q, k, v, mask, out, AttentionParams)`; the views
    // were validated by the tensor layer (dims agree, layouts inside their storage).
    launched(be, &f, unsafe { l.launch(cfg) })?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_cores_for_aligned_half_precision_prefill() {
        let aligned = [[0, 4096, 64, 64]; 3];
        assert!(tensor_cores(DType::BF16, 577, 64, 64, &aligned));
        assert!(tensor_cores(DType::F16, 16, 64, 64, &aligned));
        // Decoding, f32, odd head dims and unaligned views keep the SIMT kernel.
        assert!(!tensor_cores(DType::BF16, 1, 64, 64, &aligned));
        assert!(!tensor_cores(DType::F32, 577, 64, 64, &aligned));
        assert!(!tensor_cores(DType::BF16, 577, 12, 12, &aligned));
        let mut shifted = aligned;
        shifted[1][0] = 3;
        assert!(!tensor_cores(DType::BF16, 577, 64, 64, &shifted));
    }
}
