//! Layer norm over the last dim (biased variance, eps inside the square root, as PyTorch).

pub fn layer_norm(x: &[f64], cols: usize, gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let n = cols as f64;
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let denom = (var + eps).sqrt();
        for j in 0..cols {
            out.push((row[j] - mean) / denom * gamma[j] + beta[j]);
        }
    }
    out
}
