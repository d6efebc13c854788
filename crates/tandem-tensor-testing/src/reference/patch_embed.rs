//! ViT patch embedding as the convolution it is (stride = kernel = `p`), written directly.

/// `pixels: [b, c, h, w]`, `weight: [d, c, p, p]`, `bias: [d]` → `[b, (h/p)·(w/p), d]`
/// (patches in row-major order of the patch grid), plus `Σ|x·w| + |bias|` per output.
pub fn patch_embed(
    pixels: &[f64],
    [b, c, h, w]: [usize; 4],
    weight: &[f64],
    [d, p]: [usize; 2],
    bias: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>) {
    let (gh, gw) = (h / p, w / p);
    let mut out = Vec::with_capacity(b * gh * gw * d);
    let mut scale = Vec::with_capacity(out.capacity());
    for bi in 0..b {
        for py in 0..gh {
            for px in 0..gw {
                for o in 0..d {
                    let (mut acc, mut mag) = (
                        bias.map_or(0.0, |bs| bs[o]),
                        bias.map_or(0.0, |bs| bs[o].abs()),
                    );
                    for ci in 0..c {
                        for y in 0..p {
                            for x in 0..p {
                                let pix = pixels[((bi * c + ci) * h + py * p + y) * w + px * p + x];
                                let wt = weight[((o * c + ci) * p + y) * p + x];
                                acc += pix * wt;
                                mag += (pix * wt).abs();
                            }
                        }
                    }
                    out.push(acc);
                    scale.push(mag);
                }
            }
        }
    }
    (out, scale)
}
