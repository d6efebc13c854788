//! Fused flash-style attention (and the naive kernel the benches compare it with).

#[cfg(feature = "naive-kernels")]
use super::grid_1d;
use super::{alloc, bytes, fits_u32};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::{AttentionSpec, Tensor};

const SRC: &str = tandem_kernels::wgsl::ATTENTION;
#[cfg(feature = "naive-kernels")]
const NAIVE: &str = tandem_kernels::wgsl::naive::ATTENTION_NAIVE;
/// Queries per workgroup (attention.wgsl's BR).
const BR: usize = 64;

type T = Tensor<WgpuBackend>;

fn strides4(op: &'static str, t: &T) -> Result<[u32; 4]> {
    let s = t.layout().strides();
    Ok([
        fits_u32(op, t.layout().offset())?,
        fits_u32(op, s[0])?,
        fits_u32(op, s[1])?,
        fits_u32(op, s[2])?,
    ])
}

fn params(q: &T, k: &T, v: &T, mask: Option<&T>, spec: AttentionSpec) -> Result<Vec<u32>> {
    let op = "attention";
    let (b, h, lq, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (lk, dv) = (k.dims()[2], v.dims()[3]);
    let mut p = vec![
        fits_u32(op, lq)?,
        fits_u32(op, lk)?,
        fits_u32(op, d)?,
        fits_u32(op, dv)?,
    ];
    p.extend([
        fits_u32(op, h)?,
        spec.causal as u32,
        mask.is_some() as u32,
        spec.scale.to_bits(),
    ]);
    p.extend(strides4(op, q)?);
    p.extend(strides4(op, k)?);
    p.extend(strides4(op, v)?);
    match mask {
        Some(m) => {
            p.extend(strides4(op, m)?);
            p.extend([
                fits_u32(op, m.layout().strides()[3])?,
                fits_u32(op, b)?,
                0,
                0,
            ]);
        }
        None => p.extend([0, 0, 0, 0, 0, fits_u32(op, b)?, 0, 0]),
    }
    Ok(p)
}

/// Fused attention; `None` when the head dim is too large for the kernel's registers (the
/// caller then uses the unfused composite).
pub fn attention(
    be: &WgpuBackend,
    q: &T,
    k: &T,
    v: &T,
    mask: Option<&T>,
    spec: AttentionSpec,
) -> Result<Option<WgpuStorage>> {
    let ctx = be.ctx();
    let (b, h, lq) = (q.dims()[0], q.dims()[1], q.dims()[2]);
    let (d, dv) = (q.dims()[3], v.dims()[3]);
    let Some(dmax) = [32usize, 64, 128, 256]
        .into_iter()
        .find(|&x| x >= d.max(dv))
    else {
        return Ok(None);
    };
    let flag: &'static str = match dmax {
        32 => "DMAX_32",
        64 => "DMAX_64",
        128 => "DMAX_128",
        _ => "DMAX_256",
    };
    let repr = q.storage().repr();
    let out = alloc(ctx, "attention", b * h * lq * dv, repr)?;
    let p = params(q, k, v, mask, spec)?;
    let kspec = KernelSpec {
        name: "attention",
        entry: "attention",
        source: SRC,
        types: &[("T", repr)],
        flags: &[flag],
        constants: &[],
        inputs: 4,
        outputs: 1,
    };
    let mask_buf = mask.map_or(&ctx.dummy, |m| m.storage().buffer());
    let bufs = [
        q.storage().buffer(),
        k.storage().buffer(),
        v.storage().buffer(),
        mask_buf,
        out.buffer(),
    ];
    ctx.dispatch(
        &kspec,
        bytes(&p),
        &bufs,
        [
            fits_u32("attention", lq.div_ceil(BR))?,
            fits_u32("attention", h)?,
            fits_u32("attention", b)?,
        ],
    )?;
    Ok(Some(out))
}

/// One invocation per output element recomputing the softmax from global memory: the benches'
/// baseline.
#[cfg(feature = "naive-kernels")]
pub fn attention_naive(
    be: &WgpuBackend,
    q: &T,
    k: &T,
    v: &T,
    mask: Option<&T>,
    spec: AttentionSpec,
) -> Result<WgpuStorage> {
    let ctx = be.ctx();
    let (b, h, lq) = (q.dims()[0], q.dims()[1], q.dims()[2]);
    let dv = v.dims()[3];
    let n = b * h * lq * dv;
    let repr = q.storage().repr();
    let out = alloc(ctx, "attention_naive", n, repr)?;
    let p = params(q, k, v, mask, spec)?;
    let kspec = KernelSpec {
        name: "attention_naive",
        entry: "attention_naive",
        source: NAIVE,
        types: &[("T", repr)],
        flags: &[],
        constants: &[],
        inputs: 4,
        outputs: 1,
    };
    let mask_buf = mask.map_or(&ctx.dummy, |m| m.storage().buffer());
    let bufs = [
        q.storage().buffer(),
        k.storage().buffer(),
        v.storage().buffer(),
        mask_buf,
        out.buffer(),
    ];
    ctx.dispatch(&kspec, bytes(&p), &bufs, grid_1d(ctx, n))?;
    Ok(out)
}
