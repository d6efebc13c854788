//! Reductions over the last dim of a contiguous tensor.

use super::PAR_THRESHOLD;
use crate::cpu::storage::CpuStorage;
use crate::op::ReduceOp;
use rayon::prelude::*;

fn reduce_row(op: ReduceOp, row: &[f32]) -> f32 {
    match op {
        ReduceOp::Sum => row.iter().map(|&x| x as f64).sum::<f64>() as f32,
        ReduceOp::Max => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ReduceOp::Min => row.iter().copied().fold(f32::INFINITY, f32::min),
        ReduceOp::ArgMax => arg_best(row, |a, b| a > b) as f32,
        ReduceOp::ArgMin => arg_best(row, |a, b| a < b) as f32,
    }
}

/// Index of the first element that no later element beats (NaN never wins).
fn arg_best(row: &[f32], better: impl Fn(f32, f32) -> bool) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate().skip(1) {
        if better(x, row[best]) || row[best].is_nan() && !x.is_nan() {
            best = i;
        }
    }
    best
}

pub fn reduce_last(
    op: ReduceOp,
    src: &CpuStorage,
    offset: usize,
    rows: usize,
    cols: usize,
) -> CpuStorage {
    let values = src.as_f32();
    let data = &values[offset..offset + rows * cols];
    let out: Vec<f32> = if rows * cols >= PAR_THRESHOLD {
        data.par_chunks(cols).map(|r| reduce_row(op, r)).collect()
    } else {
        data.chunks(cols).map(|r| reduce_row(op, r)).collect()
    };
    match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            CpuStorage::U32(out.into_iter().map(|i| i as u32).collect())
        }
        _ => CpuStorage::from_f32(out, src.dtype()),
    }
}
