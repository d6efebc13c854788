//! Reductions over the last dim.

use tandem_tensor::ReduceOp;

/// `x` has `rows × cols` values. Float results for Sum/Max/Min, indices (as f64) for Arg*.
/// Arg-reductions return the first best index; NaN never wins (a row of only NaN gives 0).
pub fn reduce_last(op: ReduceOp, x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .map(|row| match op {
            ReduceOp::Sum => row.iter().sum(),
            ReduceOp::Max => row
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a }),
            ReduceOp::Min => row
                .iter()
                .copied()
                .fold(f64::INFINITY, |a, b| if b < a { b } else { a }),
            ReduceOp::ArgMax => first_best(row, |a, b| a > b) as f64,
            ReduceOp::ArgMin => first_best(row, |a, b| a < b) as f64,
        })
        .collect()
}

fn first_best(row: &[f64], better: impl Fn(f64, f64) -> bool) -> usize {
    let mut best: Option<usize> = None;
    for (i, &x) in row.iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        match best {
            Some(b) if !better(x, row[b]) => {}
            _ => best = Some(i),
        }
    }
    best.unwrap_or(0)
}

/// `Σ|x|` per row: the scale of a sum's accumulation error.
pub fn abs_sum_last(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .map(|row| row.iter().map(|v| v.abs()).sum())
        .collect()
}
