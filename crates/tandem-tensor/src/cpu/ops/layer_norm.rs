//! Fused layer norm: mean and biased variance accumulated in f64, one pass to normalise.

use crate::cpu::storage::CpuStorage;
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
    out.par_chunks_mut(cols).for_each(|row| {
        let n = cols as f64;
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = ((*v as f64 - mean) * inv) as f32 * g + b;
        }
    });
    CpuStorage::from_f32(out, x.dtype())
}
