//! Unary and broadcasting binary elementwise ops.

use super::activation::{self, Activation};
use super::copy::row_offsets;
use super::PAR_THRESHOLD;
use crate::cpu::storage::CpuStorage;
use crate::layout::Layout;
use crate::op::{BinaryOp, UnaryOp};
use crate::DType;
use rayon::prelude::*;

#[inline]
pub fn apply_unary(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Affine { mul, add } => x * mul + add,
        UnaryOp::Neg => -x,
        UnaryOp::Exp => activation::exp(x),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Square => x * x,
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => activation::sigmoid(x),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Silu => activation::x_sigmoid(x, 1.0),
        UnaryOp::Gelu => activation::gelu(x),
        UnaryOp::GeluTanh => {
            let c = (2.0f32 / std::f32::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        UnaryOp::QuickGelu => activation::x_sigmoid(x, 1.702),
    }
}

/// The vectorised form of `op`, when it has one.
fn vectorised(op: UnaryOp) -> Option<Activation> {
    match op {
        UnaryOp::Exp => Some(Activation::Exp),
        UnaryOp::Gelu => Some(Activation::Gelu),
        UnaryOp::QuickGelu => Some(Activation::XSigmoid(1.702)),
        UnaryOp::Silu => Some(Activation::XSigmoid(1.0)),
        UnaryOp::Sigmoid => Some(Activation::Sigmoid),
        _ => None,
    }
}

/// Applies `op` to one chunk: the vectorised activation where there is one (the same values
/// as [`apply_unary`], bit for bit), else element by element.
pub(crate) fn unary_chunk(op: UnaryOp, values: &mut [f32]) {
    match vectorised(op) {
        Some(act) => activation::apply(act, values),
        None => values.iter_mut().for_each(|x| *x = apply_unary(op, *x)),
    }
}

/// Applies `op` in place to every element (parallel when large).
pub fn unary_in_place(op: UnaryOp, values: &mut [f32]) {
    if values.len() >= PAR_THRESHOLD {
        values.par_chunks_mut(4096).for_each(|c| unary_chunk(op, c));
    } else {
        unary_chunk(op, values);
    }
}

pub fn unary(op: UnaryOp, src: &CpuStorage, offset: usize, len: usize) -> CpuStorage {
    let mut values = src.as_f32()[offset..offset + len].to_vec();
    unary_in_place(op, &mut values);
    CpuStorage::from_f32(values, src.dtype())
}

#[inline]
pub fn apply_binary(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
    }
}

/// `lhs` and `rhs` layouts have the output dims (broadcast strides of 0 allowed).
pub fn binary(
    op: BinaryOp,
    lhs: &CpuStorage,
    ll: &Layout,
    rhs: &CpuStorage,
    rl: &Layout,
    dtype: DType,
) -> CpuStorage {
    let (a, b) = (lhs.as_f32(), rhs.as_f32());
    let n = ll.elem_count();
    if ll.is_contiguous() && rl.is_contiguous() {
        let (a, b) = (
            &a[ll.offset()..ll.offset() + n],
            &b[rl.offset()..rl.offset() + n],
        );
        let out: Vec<f32> = if n >= PAR_THRESHOLD {
            a.par_iter()
                .zip(b.par_iter())
                .map(|(&x, &y)| apply_binary(op, x, y))
                .collect()
        } else {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| apply_binary(op, x, y))
                .collect()
        };
        return CpuStorage::from_f32(out, dtype);
    }
    let (lo, len, ls) = row_offsets(ll);
    let (ro, _, rs) = row_offsets(rl);
    let mut out = vec![0f32; n];
    if len == 0 {
        return CpuStorage::from_f32(out, dtype);
    }
    let row = |((dst, &la), &ra): ((&mut [f32], &usize), &usize)| {
        for (j, d) in dst.iter_mut().enumerate() {
            *d = apply_binary(op, a[la + j * ls], b[ra + j * rs]);
        }
    };
    if n >= PAR_THRESHOLD {
        out.par_chunks_mut(len)
            .zip(lo.par_iter())
            .zip(ro.par_iter())
            .for_each(row);
    } else {
        out.chunks_mut(len)
            .zip(lo.iter())
            .zip(ro.iter())
            .for_each(row);
    }
    CpuStorage::from_f32(out, dtype)
}
