//! Batched matmul with numpy batch broadcasting, and the fused epilogue `act(a·b + bias)`.

use super::{broadcast_flat, broadcast_shapes, unary};
use crate::tolerance::unflatten;
use tandem_tensor::Activation;

/// Result of a reference matmul: output dims, values, and per-element `Σ|a|·|b| + |bias|` (the
/// scale of accumulation error).
pub struct MatmulOut {
    pub dims: Vec<usize>,
    pub values: Vec<f64>,
    pub scale: Vec<f64>,
}

/// `act(a · b + bias)` for `a: [..., m, k]`, `b: [..., k, n]`, `bias: [n]`. `None` on
/// incompatible shapes.
pub fn matmul(
    a: &[f64],
    ad: &[usize],
    b: &[f64],
    bd: &[usize],
    bias: Option<&[f64]>,
    act: Option<Activation>,
) -> Option<MatmulOut> {
    if ad.len() < 2 || bd.len() < 2 {
        return None;
    }
    let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
    let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 || bias.is_some_and(|b| b.len() != n) {
        return None;
    }
    let (a_batch, b_batch) = (&ad[..ad.len() - 2], &bd[..bd.len() - 2]);
    let batch_dims = broadcast_shapes(a_batch, b_batch)?;
    let batches: usize = batch_dims.iter().product();
    let mut values = Vec::with_capacity(batches * m * n);
    let mut scale = Vec::with_capacity(batches * m * n);
    for bi in 0..batches {
        let idx = unflatten(bi, &batch_dims);
        let a0 = broadcast_flat(&idx, a_batch) * m * k;
        let b0 = broadcast_flat(&idx, b_batch) * k * n;
        for i in 0..m {
            for j in 0..n {
                let (mut acc, mut mag) = (0.0, 0.0);
                for p in 0..k {
                    let prod = a[a0 + i * k + p] * b[b0 + p * n + j];
                    acc += prod;
                    mag += prod.abs();
                }
                if let Some(bias) = bias {
                    acc += bias[j];
                    mag += bias[j].abs();
                }
                values.push(match act {
                    Some(act) => unary::apply(act.as_unary(), acc),
                    None => acc,
                });
                scale.push(mag);
            }
        }
    }
    let mut dims = batch_dims;
    dims.extend([m, n]);
    Some(MatmulOut {
        dims,
        values,
        scale,
    })
}
