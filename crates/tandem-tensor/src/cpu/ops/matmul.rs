//! Batched matmul on the `gemm` crate (SIMD micro-kernels, rayon-parallel), with the bias folded
//! into the GEMM's accumulator and the activation applied in the same pass over the output.

use super::elementwise::unary_in_place;
use super::gemm_bf16;
use super::matmul_skinny;
use crate::cpu::storage::CpuStorage;
use crate::op::{Activation, MatmulSpec, MatrixRef};
use crate::{Error, Result};
use gemm::Parallelism;
use rayon::prelude::*;

/// Below this many flops per matrix, batches run one matrix per rayon task instead of
/// splitting each GEMM across threads (attention heads, decoder steps).
///
/// cargo-mutants: mutants of this constant, of [`flops`] and of the conditions that compare
/// with it (in `multiply_skinny` and `multiply_f32`) are equivalent. They only choose how the
/// work is threaded, or gemm over the f32 skinny kernel, and every path computes the same
/// products (to rounding, within every test's tolerance). They change speed, which
/// `decode_matmul` and the criterion benches measure.
const SPLIT_FLOPS: usize = 1 << 22;

fn last_index(m: &MatrixRef, batch: usize, rows: usize, cols: usize) -> usize {
    m.offset + (batch - 1) * m.batch_stride + (rows - 1) * m.row_stride + (cols - 1) * m.col_stride
}

/// Out-of-bounds addressing would be undefined behaviour inside `gemm`; a layout built by hand
/// (`Tensor::from_shared`) must fail cleanly instead.
pub(crate) fn check_bounds(
    op: &'static str,
    name: &'static str,
    m: &MatrixRef,
    len: usize,
    batch: usize,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if batch * rows * cols > 0 && last_index(m, batch, rows, cols) >= len {
        return Err(Error::invalid(
            op,
            format!("{name} operand addresses past the end of its storage ({len} elements)"),
        ));
    }
    Ok(())
}

/// `dst (m × n, row-major) = [dst +] lhs · rhs` for one matrix of the batch.
///
/// # Safety
/// Every index addressed through the refs must be in bounds of the slices (checked by the caller).
unsafe fn gemm_one(
    spec: &MatmulSpec,
    b: usize,
    a: &[f32],
    w: &[f32],
    dst: &mut [f32],
    accumulate: bool,
    par: Parallelism,
) {
    let (l, r) = (&spec.lhs, &spec.rhs);
    gemm::gemm(
        spec.m,
        spec.n,
        spec.k,
        dst.as_mut_ptr(),
        1,
        spec.n as isize,
        accumulate,
        a.as_ptr().add(l.offset + b * l.batch_stride),
        l.col_stride as isize,
        l.row_stride as isize,
        w.as_ptr().add(r.offset + b * r.batch_stride),
        r.col_stride as isize,
        r.row_stride as isize,
        1.0f32,
        1.0f32,
        false,
        false,
        false,
        par,
    )
}

/// `lhs · rhs` (+ `bias` broadcast over rows, then `activation`) per [`MatmulSpec`], as f32,
/// stored in `lhs`'s dtype. A bf16 `linear` weight with a few rows runs on one of
/// `matmul_skinny`'s bf16 kernels, which read the weight as stored (bf16 rows too, on
/// AVX512-BF16); other bf16 × bf16 products run on the CPU's
/// bf16 matrix engine where it has one ([`gemm_bf16`]: AMX or AVX512-BF16, f32 accumulation);
/// the rest, half-precision operands included, are widened to f32 for `gemm`.
///
/// # Errors
/// [`Error::InvalidArgument`] when an operand's layout addresses past the end of its storage.
pub fn matmul(
    lhs: &CpuStorage,
    rhs: &CpuStorage,
    spec: &MatmulSpec,
    bias: Option<&[f32]>,
    activation: Option<Activation>,
) -> Result<CpuStorage> {
    check_bounds(
        "matmul",
        "left",
        &spec.lhs,
        lhs.len(),
        spec.batch,
        spec.m,
        spec.k,
    )?;
    check_bounds(
        "matmul",
        "right",
        &spec.rhs,
        rhs.len(),
        spec.batch,
        spec.k,
        spec.n,
    )?;
    let per = spec.m * spec.n;
    let mut out = bias_rows(spec.batch * spec.m, spec.n, bias);
    // With no product to compute the result is the bias (or zeros). `per > 0` keeps empty
    // outputs away from the kernels (`matmul_with_empty_dimensions`); `k > 0` only skips work,
    // since every path with k = 0 leaves the bias (cargo-mutants: `>` → `>=` there is
    // equivalent).
    if per > 0 && spec.k > 0 {
        let accumulate = bias.is_some();
        let bf16_engine = gemm_bf16::selected();
        let (pairs, skinny) = match (lhs, rhs) {
            (CpuStorage::BF16(a), CpuStorage::BF16(w)) => (
                matmul_skinny::bf16_pairs_kernel_for(spec).map(|k| (k, a, w)),
                matmul_skinny::bf16_kernel_for(spec).map(|k| (k, w)),
            ),
            (_, CpuStorage::BF16(w)) => {
                (None, matmul_skinny::bf16_kernel_for(spec).map(|k| (k, w)))
            }
            _ => (None, None),
        };
        match (lhs, rhs, pairs, skinny, bf16_engine) {
            (_, _, Some((kernel, a, w)), _, _) => {
                multiply_skinny(kernel, spec, a, w, &mut out, accumulate)
            }
            (_, _, None, Some((kernel, w)), _) => {
                multiply_skinny(kernel, spec, &lhs.as_f32(), w, &mut out, accumulate)
            }
            (CpuStorage::BF16(a), CpuStorage::BF16(w), None, None, Some(kernel))
                if spec.m >= gemm_bf16::MIN_ROWS =>
            {
                gemm_bf16::matmul(kernel, spec, a, w, &mut out, accumulate)
            }
            _ => multiply_f32(spec, &lhs.as_f32(), &rhs.as_f32(), &mut out, accumulate),
        }
    }
    if let Some(act) = activation {
        unary_in_place(act.as_unary(), &mut out);
    }
    Ok(CpuStorage::from_f32(out, lhs.dtype()))
}

/// `rows` rows of `n` floats, each a copy of `bias` (zeros without one): the output a GEMM
/// then accumulates into.
pub(crate) fn bias_rows(rows: usize, n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0f32; rows * n];
    if let Some(bias) = bias {
        out.par_chunks_mut(n.max(1))
            .for_each(|row| row.copy_from_slice(bias));
    }
    out
}

fn flops(spec: &MatmulSpec) -> usize {
    2 * spec.m * spec.n * spec.k
}

/// Every batch entry on a skinny kernel: entries in parallel when each is small (attention
/// heads), else one after the other with the columns in parallel.
fn multiply_skinny<A: Sync, W: Sync>(
    kernel: matmul_skinny::Kernel<A, W>,
    spec: &MatmulSpec,
    a: &[A],
    w: &[W],
    out: &mut [f32],
    accumulate: bool,
) {
    let per = spec.m * spec.n;
    if spec.batch > 1 && flops(spec) < SPLIT_FLOPS {
        out.par_chunks_mut(per).enumerate().for_each(|(b, dst)| {
            matmul_skinny::matmul(kernel, spec, b, a, w, dst, accumulate, false)
        });
    } else {
        for (b, dst) in out.chunks_mut(per).enumerate() {
            matmul_skinny::matmul(kernel, spec, b, a, w, dst, accumulate, true);
        }
    }
}

/// Every batch entry in f32: `gemm`, or the f32 skinny kernel where it serves the shape.
fn multiply_f32(spec: &MatmulSpec, a: &[f32], w: &[f32], out: &mut [f32], accumulate: bool) {
    let per = spec.m * spec.n;
    let flops = flops(spec);
    if spec.batch > 1 && flops < SPLIT_FLOPS {
        out.par_chunks_mut(per).enumerate().for_each(|(b, dst)| {
            // SAFETY: bounds of both operands were checked for the whole batch by `matmul`.
            unsafe { gemm_one(spec, b, a, w, dst, accumulate, Parallelism::None) }
        });
    } else if let Some(kernel) = matmul_skinny::kernel_for(spec) {
        // A few rows times an `nn.Linear` weight (decoder steps, LM heads): see matmul_skinny.
        multiply_skinny(kernel, spec, a, w, out, accumulate);
    } else {
        let threads = rayon::current_num_threads();
        let par = if flops < SPLIT_FLOPS || threads == 1 {
            Parallelism::None
        } else {
            Parallelism::Rayon(threads)
        };
        for (b, dst) in out.chunks_mut(per).enumerate() {
            // SAFETY: as above.
            unsafe { gemm_one(spec, b, a, w, dst, accumulate, par) }
        }
    }
}
