//! Softmax (with additive mask and causal flag) and log-softmax over the last dim.

/// Softmax of each row of `x: [..., lq, lk]` after adding `mask` (same logical shape, already
/// expanded) and, with `causal`, hiding key `j` from query `i` when `j > lk - lq + i`. Hidden or
/// `-inf` entries get probability 0; a row with nothing visible is NaN (as PyTorch).
pub fn softmax(x: &[f64], dims: &[usize], mask: Option<&[f64]>, causal: bool) -> Vec<f64> {
    let lk = dims[dims.len() - 1];
    let lq = if dims.len() >= 2 {
        dims[dims.len() - 2]
    } else {
        1
    };
    let mut out = Vec::with_capacity(x.len());
    for (r, row) in x.chunks(lk).enumerate() {
        let qi = r % lq;
        let logits: Vec<f64> = (0..lk)
            .map(|j| {
                let hidden = causal && j > lk - lq + qi;
                if hidden {
                    f64::NEG_INFINITY
                } else {
                    row[j] + mask.map_or(0.0, |m| m[r * lk + j])
                }
            })
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            out.extend(std::iter::repeat_n(f64::NAN, lk));
            continue;
        }
        let exps: Vec<f64> = logits.iter().map(|&l| (l - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        out.extend(exps.iter().map(|e| e / sum));
    }
    out
}

/// `log(softmax(x))` per row, computed as `x - max - ln Σ exp(x - max)`.
pub fn log_softmax(x: &[f64], cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
        out.extend(row.iter().map(|&v| v - max - lse));
    }
    out
}
