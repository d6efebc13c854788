//! Fused softmax / log-softmax over the last dim with an additive mask and causal masking.

use super::{alloc, bytes, fits_u32, grid_groups, merge_dims, pack8};
use crate::error::Result;
use crate::runtime::kernel::KernelSpec;
use crate::storage::WgpuStorage;
use crate::WgpuBackend;
use tandem_tensor::Tensor;

const SRC: &str = tandem_kernels::wgsl::SOFTMAX;

/// `x` is contiguous; `mask` (any strides) has `x`'s dims. `log` gives log-softmax.
pub fn softmax(
    be: &WgpuBackend,
    x: &Tensor<WgpuBackend>,
    mask: Option<&Tensor<WgpuBackend>>,
    causal: bool,
    log: bool,
) -> Result<WgpuStorage> {
    let ctx = be.ctx();
    let dims = x.dims();
    let cols = *dims.last().unwrap_or(&1);
    let n = x.elem_count();
    let rows = n.checked_div(cols).unwrap_or(0);
    let lq = if dims.len() >= 2 {
        dims[dims.len() - 2]
    } else {
        1
    };
    let out = alloc(ctx, "softmax", n, x.storage().repr())?;
    let mut params = vec![
        fits_u32("softmax", rows)?,
        fits_u32("softmax", cols)?,
        fits_u32("softmax", x.layout().offset())?,
        fits_u32("softmax", lq.max(1))?,
    ];
    let (mask_buf, lead_dims, lead_strides, mask_offset, last_stride) = match mask {
        Some(m) => {
            let r = dims.len();
            let (d, s) = merge_dims(&dims[..r - 1], &[m.layout().strides()[..r - 1].to_vec()]);
            (
                m.storage().buffer(),
                d,
                s[0].clone(),
                m.layout().offset(),
                m.layout().strides()[r - 1],
            )
        }
        None => (&ctx.dummy, vec![1], vec![0], 0, 0),
    };
    params.extend([
        causal as u32,
        mask.is_some() as u32,
        fits_u32("softmax", mask_offset)?,
        fits_u32("softmax", last_stride)?,
    ]);
    params.extend([lead_dims.len() as u32, 0, 0, 0]);
    params.extend(pack8("softmax", &lead_dims)?);
    params.extend(pack8("softmax", &lead_strides)?);
    let flags: &[&str] = if log { &["LOG"] } else { &[] };
    let spec = KernelSpec {
        name: "softmax",
        entry: "softmax",
        source: SRC,
        types: &[("T", x.storage().repr())],
        flags,
        constants: &[],
        inputs: 2,
        outputs: 1,
    };
    ctx.dispatch(
        &spec,
        bytes(&params),
        &[x.storage().buffer(), mask_buf, out.buffer()],
        grid_groups(ctx, rows),
    )?;
    Ok(out)
}
