//! Fused layer norm: mean and biased variance accumulated in f64, one pass to normalise; and
//! the residual add fused in front of it.

use crate::cpu::storage::CpuStorage;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

pub fn layer_norm(
    x: &CpuStorage,
    offset: usize,
    rows: usize,
    cols: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> CpuStorage {
    let values = x.as_f32();
    let mut out = values[offset..offset + rows * cols].to_vec();
    if cols == 0 {
        return CpuStorage::from_f32(out, x.dtype());
    }
    out.par_chunks_mut(cols)
        .for_each(|row| normalize_row(row, gamma, beta, eps));
    CpuStorage::from_f32(out, x.dtype())
}

/// `(x + r, layer_norm(x + r))` for contiguous rows starting at `x_offset` / `r_offset`.
///
/// Each row is widened to f32 in a per-thread buffer, summed, stored in the dtype (one
/// rounding, as the unfused `add` stores it), read back as stored, and normalised while it is in
/// cache: one read of each input and one write of each output, where `add` then `layer_norm`
/// read the sum back from memory, allocate twice, and (for half types) widen whole tensors.
/// Storages of different dtypes are rejected by `Tensor::add_layer_norm` before this.
#[allow(clippy::too_many_arguments)]
pub fn add_layer_norm(
    x: &CpuStorage,
    x_offset: usize,
    r: &CpuStorage,
    r_offset: usize,
    rows: usize,
    cols: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> (CpuStorage, CpuStorage) {
    let len = rows * cols;
    let p = Params {
        cols,
        gamma,
        beta,
        eps,
    };
    match (x, r) {
        (CpuStorage::BF16(x), CpuStorage::BF16(r)) => {
            let (s, n) = fused_rows(&x[x_offset..][..len], &r[r_offset..][..len], &p);
            (CpuStorage::BF16(s), CpuStorage::BF16(n))
        }
        (CpuStorage::F16(x), CpuStorage::F16(r)) => {
            let (s, n) = fused_rows(&x[x_offset..][..len], &r[r_offset..][..len], &p);
            (CpuStorage::F16(s), CpuStorage::F16(n))
        }
        _ => {
            let (x, r) = (x.as_f32(), r.as_f32());
            let (s, n) = fused_rows_f32(&x[x_offset..][..len], &r[r_offset..][..len], &p);
            (CpuStorage::F32(s), CpuStorage::F32(n))
        }
    }
}

/// Row length and the norm's parameters.
struct Params<'a> {
    cols: usize,
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

/// A half type rows are widened from and stored back to.
trait Element: Copy + Default + Send + Sync {
    fn widen(src: &[Self], dst: &mut [f32]);
    fn narrow(src: &[f32], dst: &mut [Self]);
}

impl Element for bf16 {
    fn widen(src: &[bf16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
    fn narrow(src: &[f32], dst: &mut [bf16]) {
        dst.convert_from_f32_slice(src);
    }
}

impl Element for f16 {
    fn widen(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
    fn narrow(src: &[f32], dst: &mut [f16]) {
        dst.convert_from_f32_slice(src);
    }
}

/// Both outputs of [`add_layer_norm`] for a half type, rows in parallel, two f32 row buffers
/// per thread.
fn fused_rows<T: Element>(x: &[T], r: &[T], p: &Params) -> (Vec<T>, Vec<T>) {
    let mut sum = vec![T::default(); x.len()];
    let mut normed = vec![T::default(); x.len()];
    if p.cols == 0 {
        return (sum, normed);
    }
    let c = p.cols;
    sum.par_chunks_mut(c)
        .zip(normed.par_chunks_mut(c))
        .zip(x.par_chunks(c).zip(r.par_chunks(c)))
        .for_each_init(
            || (vec![0f32; c], vec![0f32; c]),
            |(a, b), ((s, n), (xr, rr))| {
                T::widen(xr, a);
                T::widen(rr, b);
                for (a, &b) in a.iter_mut().zip(b.iter()) {
                    *a += b;
                }
                T::narrow(a, s);
                // Normalise the sum as stored, as `layer_norm` of the stored `add` would.
                T::widen(s, a);
                normalize_row(a, p.gamma, p.beta, p.eps);
                T::narrow(a, n);
            },
        );
    (sum, normed)
}

/// [`fused_rows`] for f32, where storing is exact: the sum is written straight into its output
/// and normalised in the other output, no row buffers.
fn fused_rows_f32(x: &[f32], r: &[f32], p: &Params) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f32; x.len()];
    let mut normed = vec![0f32; x.len()];
    if p.cols == 0 {
        return (sum, normed);
    }
    let c = p.cols;
    sum.par_chunks_mut(c)
        .zip(normed.par_chunks_mut(c))
        .zip(x.par_chunks(c).zip(r.par_chunks(c)))
        .for_each(|((s, n), (xr, rr))| {
            for ((s, &a), &b) in s.iter_mut().zip(xr).zip(rr) {
                *s = a + b;
            }
            n.copy_from_slice(s);
            normalize_row(n, p.gamma, p.beta, p.eps);
        });
    (sum, normed)
}

/// One row in place: `(v − mean) / sqrt(var + eps) · γ + β`, statistics in f64.
fn normalize_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f64;
    let mean = lane_sum(row, |v| v as f64) / n;
    let var = lane_sum(row, |v| (v as f64 - mean).powi(2)) / n;
    let inv = 1.0 / (var + eps as f64).sqrt();
    for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = ((*v as f64 - mean) * inv) as f32 * g + b;
    }
}

/// `Σ f(v)` in f64 over eight independent lanes, then the lanes and the tail: the compiler
/// keeps one f64 sum in order (a chain of dependent adds, one per element's add latency), while
/// eight lanes vectorise and overlap. Same f64 accuracy, another summation order.
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += f(v);
        }
    }
    lanes.iter().sum::<f64>() + tail.iter().map(|&v| f(v)).sum::<f64>()
}
