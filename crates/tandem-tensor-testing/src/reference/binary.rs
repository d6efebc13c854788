//! Elementwise functions of two inputs with numpy broadcasting.

use super::{broadcast_flat, broadcast_shapes};
use crate::tolerance::unflatten;
use tandem_tensor::BinaryOp;

pub fn apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => {
            if a >= b {
                a
            } else {
                b
            }
        }
        BinaryOp::Min => {
            if a <= b {
                a
            } else {
                b
            }
        }
    }
}

/// Returns the broadcast output dims and values, or `None` for incompatible shapes.
pub fn binary(
    op: BinaryOp,
    a: &[f64],
    ad: &[usize],
    b: &[f64],
    bd: &[usize],
) -> Option<(Vec<usize>, Vec<f64>)> {
    let dims = broadcast_shapes(ad, bd)?;
    let n: usize = dims.iter().product();
    let out = (0..n)
        .map(|i| {
            let idx = unflatten(i, &dims);
            apply(op, a[broadcast_flat(&idx, ad)], b[broadcast_flat(&idx, bd)])
        })
        .collect();
    Some((dims, out))
}
