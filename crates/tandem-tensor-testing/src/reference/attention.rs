//! Scaled dot-product attention, written as the three textbook steps per (batch, head, query).

/// Shapes of a reference attention problem (all operands logical and row-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    pub b: usize,
    /// Batch of k/v: `b` or 1 (shared keys, e.g. one image for every caption).
    pub bk: usize,
    pub h: usize,
    pub lq: usize,
    pub lk: usize,
    pub d: usize,
    pub dv: usize,
}

/// `softmax(q·kᵀ·scale + mask [causal]) · v` → `[b, h, lq, dv]`, plus a per-element error scale
/// (`max|v| · (1 + max|score|)`). `mask` is already expanded to `[b, h, lq, lk]`.
pub fn attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    mask: Option<&[f64]>,
    s: AttnShape,
    scale: f64,
    causal: bool,
) -> (Vec<f64>, Vec<f64>) {
    let mut out = Vec::with_capacity(s.b * s.h * s.lq * s.dv);
    let mut err_scale = Vec::with_capacity(out.capacity());
    for bi in 0..s.b {
        let kb = if s.bk == 1 { 0 } else { bi };
        for hi in 0..s.h {
            let kv_head = (kb * s.h + hi) * s.lk;
            for i in 0..s.lq {
                let qrow = &q[((bi * s.h + hi) * s.lq + i) * s.d..][..s.d];
                let mut scores = vec![0.0; s.lk];
                let mut max_abs: f64 = 0.0;
                for (j, sc) in scores.iter_mut().enumerate() {
                    let krow = &k[(kv_head + j) * s.d..][..s.d];
                    let dot: f64 = qrow.iter().zip(krow).map(|(a, b)| a * b).sum();
                    let abs: f64 = qrow.iter().zip(krow).map(|(a, b)| (a * b).abs()).sum();
                    max_abs = max_abs.max(abs * scale.abs());
                    *sc = dot * scale
                        + mask.map_or(0.0, |m| m[((bi * s.h + hi) * s.lq + i) * s.lk + j]);
                    if causal && j > s.lk - s.lq + i {
                        *sc = f64::NEG_INFINITY;
                    }
                }
                let p = super::softmax::softmax(&scores, &[s.lk], None, false);
                let vmax = v[kv_head * s.dv..(kv_head + s.lk) * s.dv]
                    .iter()
                    .fold(0.0f64, |a, x| a.max(x.abs()));
                for c in 0..s.dv {
                    let acc: f64 = (0..s.lk).map(|j| p[j] * v[(kv_head + j) * s.dv + c]).sum();
                    out.push(acc);
                    err_scale.push(vmax * (1.0 + max_abs));
                }
            }
        }
    }
    (out, err_scale)
}
