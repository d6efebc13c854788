//! Batched matmul: the tiled kernel with its fused bias/activation epilogue, and the naive
//! kernel the benches compare it with.

#[cfg(feature = "naive-kernels")]
use super::grid_1d;
use super::{alloc, bytes, fits_u32, unary::activation_code};
use crate::error::{Result, WgpuError};
use crate::runtime::kernel::KernelSpec;
use crate::runtime::Context;
use crate::storage::WgpuStorage;
use std::sync::Arc;
use tandem_tensor::{Activation, MatmulSpec, MatrixRef};

const SRC: &str = tandem_kernels::wgsl::MATMUL;
#[cfg(feature = "naive-kernels")]
const NAIVE: &str = tandem_kernels::wgsl::naive::MATMUL_NAIVE;
const TILE: usize = 64;

fn check_bounds(
    name: &str,
    m: &MatrixRef,
    storage: &WgpuStorage,
    batch: usize,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if batch * rows * cols == 0 {
        return Ok(());
    }
    let last = m.offset
        + (batch - 1) * m.batch_stride
        + (rows - 1) * m.row_stride
        + (cols - 1) * m.col_stride;
    if last >= storage.len() {
        return Err(WgpuError::Unsupported {
            op: "matmul",
            message: format!(
                "{name} operand addresses element {last} of a storage of {}",
                storage.len()
            ),
        });
    }
    Ok(())
}

/// Whether an operand can be fetched as aligned vec4s along its contiguous dim (`extent`
/// elements long); `other_extent` is the length of the strided dim.
fn vec4_ok(m: &MatrixRef, extent: usize, other_extent: usize) -> bool {
    let lead = if m.transposed() {
        m.col_stride
    } else {
        m.row_stride
    };
    extent.is_multiple_of(4)
        && m.offset.is_multiple_of(4)
        && m.batch_stride.is_multiple_of(4)
        && (other_extent <= 1 || lead % 4 == 0)
}

fn words(m: &MatrixRef) -> Result<[u32; 4]> {
    Ok([
        fits_u32("matmul", m.offset)?,
        fits_u32("matmul", m.batch_stride)?,
        fits_u32("matmul", m.row_stride)?,
        fits_u32("matmul", m.col_stride)?,
    ])
}

/// `act(lhs · rhs + bias)`; `bias` is `(storage, offset)` of `spec.n` contiguous values.
pub fn matmul(
    ctx: &Arc<Context>,
    lhs: &WgpuStorage,
    rhs: &WgpuStorage,
    spec: &MatmulSpec,
    bias: Option<(&WgpuStorage, usize)>,
    act: Option<Activation>,
) -> Result<WgpuStorage> {
    let MatmulSpec {
        batch,
        m,
        n,
        k,
        lhs: l,
        rhs: r,
    } = *spec;
    check_bounds("left", &l, lhs, batch, m, k)?;
    check_bounds("right", &r, rhs, batch, k, n)?;
    let repr = lhs.repr();
    let out = alloc(ctx, "matmul", batch * m * n, repr)?;
    if batch * m * n == 0 {
        return Ok(out);
    }
    // Contiguous dim of lhs: k unless transposed (then m); of rhs: n unless transposed (then k).
    let lhs_vec = if l.transposed() {
        vec4_ok(&l, m, k)
    } else {
        vec4_ok(&l, k, m)
    };
    let rhs_vec = if r.transposed() {
        vec4_ok(&r, k, n)
    } else {
        vec4_ok(&r, n, k)
    };
    let mut flags = Vec::new();
    if lhs_vec {
        flags.push("LHS_VEC");
    }
    if rhs_vec {
        flags.push("RHS_VEC");
    }
    if n % 4 == 0 {
        flags.push("OUT_VEC");
    }
    let constants = [
        ("LHS_T", l.transposed() as u32 as f64),
        ("RHS_T", r.transposed() as u32 as f64),
        ("HAS_BIAS", bias.is_some() as u32 as f64),
        ("ACT", activation_code(act) as f64),
    ];
    let kspec = KernelSpec {
        name: "matmul",
        entry: "matmul",
        source: SRC,
        types: &[("T", repr)],
        flags: &flags,
        constants: &constants,
        inputs: 3,
        outputs: 1,
    };
    let (bias_buf, bias_off) = match bias {
        Some((b, off)) => (b.buffer(), off),
        None => (&ctx.dummy, 0),
    };
    let max_z = ctx.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let (gx, gy) = (n.div_ceil(TILE), m.div_ceil(TILE));
    let mut base = 0;
    while base < batch {
        let chunk = (batch - base).min(max_z);
        let mut params = vec![
            fits_u32("matmul", m)?,
            fits_u32("matmul", n)?,
            fits_u32("matmul", k)?,
            fits_u32("matmul", base)?,
        ];
        params.extend(words(&l)?);
        params.extend(words(&r)?);
        params.extend([fits_u32("matmul", bias_off)?, 0, 0, 0]);
        ctx.dispatch(
            &kspec,
            bytes(&params),
            &[lhs.buffer(), rhs.buffer(), bias_buf, out.buffer()],
            [
                fits_u32("matmul", gx)?,
                fits_u32("matmul", gy)?,
                chunk as u32,
            ],
        )?;
        base += chunk;
    }
    Ok(out)
}

/// One invocation per output element, no shared memory: the benches' baseline.
#[cfg(feature = "naive-kernels")]
pub fn matmul_naive(
    ctx: &Arc<Context>,
    lhs: &WgpuStorage,
    rhs: &WgpuStorage,
    spec: &MatmulSpec,
) -> Result<WgpuStorage> {
    let MatmulSpec {
        batch,
        m,
        n,
        k,
        lhs: l,
        rhs: r,
    } = *spec;
    check_bounds("left", &l, lhs, batch, m, k)?;
    check_bounds("right", &r, rhs, batch, k, n)?;
    let total = batch * m * n;
    let out = alloc(ctx, "matmul_naive", total, lhs.repr())?;
    let mut params = vec![
        fits_u32("matmul", m)?,
        fits_u32("matmul", n)?,
        fits_u32("matmul", k)?,
        fits_u32("matmul", batch)?,
    ];
    params.extend(words(&l)?);
    params.extend(words(&r)?);
    let kspec = KernelSpec {
        name: "matmul_naive",
        entry: "matmul_naive",
        source: NAIVE,
        types: &[("T", lhs.repr())],
        flags: &[],
        constants: &[],
        inputs: 2,
        outputs: 1,
    };
    ctx.dispatch(
        &kspec,
        bytes(&params),
        &[lhs.buffer(), rhs.buffer(), out.buffer()],
        grid_1d(ctx, total),
    )?;
    Ok(out)
}
