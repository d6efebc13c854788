//! `x / max(‖x‖₂, eps)` over the last dim (PyTorch's `F.normalize`).

pub fn l2_normalize(x: &[f64], cols: usize, eps: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        let denom = if norm > eps { norm } else { eps };
        out.extend(row.iter().map(|v| v / denom));
    }
    out
}
