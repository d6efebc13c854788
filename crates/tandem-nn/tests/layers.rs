//! Attention (self, causal, masked, fused qkv, KV cache, cross) and ViT embeddings against
//! plain host loops.

use tandem_nn::{
    padding_mask, Attention, CrossKv, KvCache, Linear, QkvProjection, VisionEmbeddings,
};
use tandem_tensor::{Backend, CpuBackend, DType, Tensor};
use tandem_tensor_testing::{assert_close_slices, Close};

/// Our layers against host f32 loops: dot products of length ≤ 8 (γ_8·Σ|a·b| ≈ 5e-7·Σ|a·b|,
/// Σ|a·b| ≤ 8 for values in [-1, 1)), an exp and a normalisation per softmax, four projections
/// in a row: about 1e-5 worst case. 1e-4 absolute keeps 10x margin and is still 1e-4 of the
/// outputs' unit scale: a wrong mask, head split or scale moves them by > 1e-2.
const TOL: Close = Close::abs(1e-4);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn tensor(data: &[f32], dims: &[usize]) -> Tensor<CpuBackend> {
    Tensor::from_slice(&CpuBackend, data, dims).expect("upload")
}

/// Host linear: x [rows, in] · wᵀ + b.
fn lin(x: &[f32], rows: usize, w: &[f32], b: &[f32], inp: usize, out: usize) -> Vec<f32> {
    let mut y = vec![0f32; rows * out];
    for r in 0..rows {
        for o in 0..out {
            y[r * out + o] = b[o]
                + (0..inp)
                    .map(|i| x[r * inp + i] * w[o * inp + i])
                    .sum::<f32>();
        }
    }
    y
}

struct Proj {
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
}
impl Proj {
    fn new(rng: &mut Rng, inp: usize, out: usize) -> Self {
        Proj {
            w: rng.vec(out * inp),
            b: rng.vec(out),
            inp,
            out,
        }
    }
    fn layer(&self) -> Linear<CpuBackend> {
        Linear::new(
            tensor(&self.w, &[self.out, self.inp]),
            Some(tensor(&self.b, &[self.out])),
        )
    }
    fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        lin(x, rows, &self.w, &self.b, self.inp, self.out)
    }
}

/// Host multi-head attention; `visible(b, i, j)` says whether query i of batch b sees key j.
#[allow(clippy::too_many_arguments)]
fn naive(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    b: usize,
    lq: usize,
    lk: usize,
    heads: usize,
    dim: usize,
    visible: &dyn Fn(usize, usize, usize) -> bool,
) -> Vec<f32> {
    let hd = dim / heads;
    let mut out = vec![0f32; b * lq * dim];
    for bi in 0..b {
        for h in 0..heads {
            for i in 0..lq {
                let scores: Vec<f32> = (0..lk)
                    .map(|j| {
                        if !visible(bi, i, j) {
                            return f32::NEG_INFINITY;
                        }
                        (0..hd)
                            .map(|d| {
                                q[(bi * lq + i) * dim + h * hd + d]
                                    * k[(bi * lk + j) * dim + h * hd + d]
                            })
                            .sum::<f32>()
                            / (hd as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                for d in 0..hd {
                    out[(bi * lq + i) * dim + h * hd + d] = (0..lk)
                        .map(|j| e[j] / z * v[(bi * lk + j) * dim + h * hd + d])
                        .sum();
                }
            }
        }
    }
    out
}

struct Setup {
    q: Proj,
    k: Proj,
    v: Proj,
    o: Proj,
    heads: usize,
    dim: usize,
}

fn setup(rng: &mut Rng, dim: usize, kv_dim: usize, heads: usize) -> Setup {
    Setup {
        q: Proj::new(rng, dim, dim),
        k: Proj::new(rng, kv_dim, dim),
        v: Proj::new(rng, kv_dim, dim),
        o: Proj::new(rng, dim, dim),
        heads,
        dim,
    }
}

impl Setup {
    fn layer(&self) -> Attention<CpuBackend> {
        let qkv = QkvProjection::Separate {
            q: self.q.layer(),
            k: self.k.layer(),
            v: self.v.layer(),
        };
        Attention::new(qkv, self.o.layer(), self.heads).expect("attention")
    }
    fn reference(
        &self,
        x: &[f32],
        enc: &[f32],
        b: usize,
        lq: usize,
        lk: usize,
        visible: &dyn Fn(usize, usize, usize) -> bool,
    ) -> Vec<f32> {
        let q = self.q.apply(x, b * lq);
        let k = self.k.apply(enc, b * lk);
        let v = self.v.apply(enc, b * lk);
        self.o.apply(
            &naive(&q, &k, &v, b, lq, lk, self.heads, self.dim, visible),
            b * lq,
        )
    }
}

#[test]
fn self_attention_with_padding_and_causal_masks() {
    let mut rng = Rng(7);
    let (b, l, dim, heads) = (2, 5, 12, 3);
    let s = setup(&mut rng, dim, dim, heads);
    let x = rng.vec(b * l * dim);
    let pad = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    let layer = s.layer();
    let xt = tensor(&x, &[b, l, dim]);
    let mask = padding_mask(&CpuBackend, &pad, b, l, tandem_tensor::DType::F32).expect("mask");

    let got = layer
        .forward(&xt, None, false)
        .expect("plain")
        .to_vec::<f32>()
        .expect("read");
    assert_close_slices(
        "plain",
        &got,
        &s.reference(&x, &x, b, l, l, &|_, _, _| true),
        TOL,
    );

    let got = layer
        .forward(&xt, Some(&mask), false)
        .expect("masked")
        .to_vec::<f32>()
        .expect("read");
    let want = s.reference(&x, &x, b, l, l, &|bi, _, j| pad[bi * l + j] == 1);
    assert_close_slices("padding", &got, &want, TOL);

    let got = layer
        .forward(&xt, Some(&mask), true)
        .expect("causal")
        .to_vec::<f32>()
        .expect("read");
    let want = s.reference(&x, &x, b, l, l, &|bi, i, j| j <= i && pad[bi * l + j] == 1);
    assert_close_slices("causal + padding", &got, &want, TOL);
}

#[test]
fn fused_qkv_matches_separate_projections() {
    let mut rng = Rng(11);
    let (b, l, dim, heads) = (2, 4, 8, 2);
    let s = setup(&mut rng, dim, dim, heads);
    let x = rng.vec(b * l * dim);
    let w: Vec<f32> = [&s.q.w, &s.k.w, &s.v.w]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    let bias: Vec<f32> = [&s.q.b, &s.k.b, &s.v.b]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    let fused = Linear::new(tensor(&w, &[3 * dim, dim]), Some(tensor(&bias, &[3 * dim])));
    let layer = Attention::new(QkvProjection::Fused(fused), s.o.layer(), heads).expect("attention");
    let got = layer
        .forward(&tensor(&x, &[b, l, dim]), None, false)
        .expect("fwd")
        .to_vec::<f32>()
        .expect("read");
    assert_close_slices(
        "fused",
        &got,
        &s.reference(&x, &x, b, l, l, &|_, _, _| true),
        TOL,
    );
}

#[test]
fn kv_cache_steps_equal_one_causal_pass() {
    let mut rng = Rng(13);
    let (b, l, dim, heads) = (2, 6, 8, 2);
    let s = setup(&mut rng, dim, dim, heads);
    let layer = s.layer();
    let x = rng.vec(b * l * dim);
    let xt = tensor(&x, &[b, l, dim]);
    let full = layer
        .forward(&xt, None, true)
        .expect("full")
        .to_vec::<f32>()
        .expect("read");
    // A prompt of 2 positions, then one position at a time.
    let mut cache = KvCache::new();
    let mut pieces = vec![layer
        .forward_cached(&xt.narrow(1, 0, 2).expect("n"), None, &mut cache)
        .expect("prompt")];
    for p in 2..l {
        pieces.push(
            layer
                .forward_cached(&xt.narrow(1, p, 1).expect("n"), None, &mut cache)
                .expect("step"),
        );
    }
    assert_eq!(cache.len(), l);
    let refs: Vec<&Tensor<CpuBackend>> = pieces.iter().collect();
    let stepped = Tensor::cat(&refs, 1)
        .expect("cat")
        .to_vec::<f32>()
        .expect("read");
    assert_close_slices("cached", &stepped, &full, Close::abs(1e-5));
}

#[test]
fn cross_attention_precomputed_kv_shared_over_batch() {
    let mut rng = Rng(17);
    let (b, lq, lk, dim, kv_dim, heads) = (3, 4, 7, 8, 6, 4);
    let s = setup(&mut rng, dim, kv_dim, heads);
    let layer = s.layer();
    let x = rng.vec(b * lq * dim);
    let enc = rng.vec(lk * kv_dim);
    let kv: CrossKv<CpuBackend> = layer.cross_kv(&tensor(&enc, &[1, lk, kv_dim])).expect("kv");
    let got = layer
        .forward_cross(&tensor(&x, &[b, lq, dim]), &kv, None)
        .expect("cross")
        .to_vec::<f32>()
        .expect("read");
    let enc_b: Vec<f32> = (0..b).flat_map(|_| enc.iter().copied()).collect();
    assert_close_slices(
        "cross",
        &got,
        &s.reference(&x, &enc_b, b, lq, lk, &|_, _, _| true),
        TOL,
    );
    // Repeating the one image for the batch gives the same result.
    let rows = Tensor::from_slice(&CpuBackend, &[0u32, 0, 0], &[3]).expect("ids");
    let kv3 = kv.select_batch(&rows).expect("select");
    let again = layer
        .forward_cross(&tensor(&x, &[b, lq, dim]), &kv3, None)
        .expect("cross")
        .to_vec::<f32>()
        .expect("read");
    assert_close_slices("repeated kv", &again, &got, Close::abs(1e-6));
}

#[test]
fn attention_rejects_bad_configs_and_inputs() {
    let mut rng = Rng(19);
    let s = setup(&mut rng, 8, 8, 2);
    let qkv = QkvProjection::Separate {
        q: s.q.layer(),
        k: s.k.layer(),
        v: s.v.layer(),
    };
    assert!(
        Attention::new(qkv, s.o.layer(), 3).is_err(),
        "8 is not divisible by 3 heads"
    );
    let layer = s.layer();
    assert!(layer
        .forward(&tensor(&rng.vec(10), &[2, 5]), None, false)
        .is_err());
    assert!(layer
        .forward(&tensor(&rng.vec(2 * 3 * 7), &[2, 3, 7]), None, false)
        .is_err());
}

#[test]
fn vision_embeddings_match_a_naive_convolution() {
    let mut rng = Rng(23);
    let (b, c, size, p, d) = (2, 3, 8, 4, 5);
    let g = size / p;
    let n = g * g + 1;
    let pixels = rng.vec(b * c * size * size);
    let w = rng.vec(d * c * p * p);
    let bias = rng.vec(d);
    let class = rng.vec(d);
    let pos = rng.vec(n * d);
    let emb = VisionEmbeddings::new(
        tensor(&w, &[d, c, p, p]),
        Some(tensor(&bias, &[d])),
        tensor(&class, &[1, 1, d]),
        tensor(&pos, &[1, n, d]),
        size,
    )
    .expect("embeddings");
    let got = emb
        .forward(&tensor(&pixels, &[b, c, size, size]))
        .expect("fwd")
        .to_vec::<f32>()
        .expect("read");
    let mut want = vec![0f32; b * n * d];
    for bi in 0..b {
        for o in 0..d {
            want[(bi * n) * d + o] = class[o] + pos[o];
        }
        for gy in 0..g {
            for gx in 0..g {
                let t = 1 + gy * g + gx;
                for o in 0..d {
                    let mut acc = bias[o];
                    for ci in 0..c {
                        for ky in 0..p {
                            for kx in 0..p {
                                let px = pixels
                                    [((bi * c + ci) * size + gy * p + ky) * size + gx * p + kx];
                                acc += px * w[((o * c + ci) * p + ky) * p + kx];
                            }
                        }
                    }
                    want[(bi * n + t) * d + o] = acc + pos[t * d + o];
                }
            }
        }
    }
    assert_close_slices("vision embeddings", &got, &want, TOL);
    assert!(
        emb.forward(&tensor(&rng.vec(3 * 4 * 4), &[1, 3, 4, 4]))
            .is_err(),
        "wrong image size"
    );
}

/// A bf16 model fed an image processor's f32 pixels (BLIP's captioner did this and failed with a
/// dtype mismatch): the pixels are converted to the weights' dtype first, as transformers'
/// `pixel_values.to(dtype=target_dtype)`, so the result equals feeding bf16 pixels.
#[test]
fn vision_embeddings_convert_pixels_to_the_weights_dtype() {
    let mut rng = Rng(29);
    let (b, c, size, p, d) = (1, 3, 8, 4, 5);
    let n = (size / p) * (size / p) + 1;
    let bf16 =
        |v: Vec<f32>, dims: &[usize]| tensor(&v, dims).to_dtype(DType::BF16).expect("to bf16");
    let emb = VisionEmbeddings::new(
        bf16(rng.vec(d * c * p * p), &[d, c, p, p]),
        Some(bf16(rng.vec(d), &[d])),
        bf16(rng.vec(d), &[1, 1, d]),
        bf16(rng.vec(n * d), &[1, n, d]),
        size,
    )
    .expect("embeddings");
    let pixels = rng.vec(b * c * size * size);
    let from_f32 = emb
        .forward(&tensor(&pixels, &[b, c, size, size]))
        .expect("f32 pixels into a bf16 model");
    assert_eq!(from_f32.dtype(), DType::BF16);
    let from_bf16 = emb
        .forward(&bf16(pixels, &[b, c, size, size]))
        .expect("bf16 pixels");
    assert_eq!(
        from_f32.to_vec_f32().expect("read"),
        from_bf16.to_vec_f32().expect("read")
    );
}

/// A bf16 `Linear` (kept `[out, in]` on the CPU, `Backend::linear_weight_as_stored`) against a
/// host loop over the same bf16 values, at row counts that take each CPU path: the skinny
/// decode kernel (≤ 64 rows) and the bf16 GEMM or widening above. Bound: the bf16 store of the
/// result rounds by ≤ 2⁻⁸·|y| (8 significant bits); f32 accumulation of 70 products adds ≤ 70·2⁻²⁴·Σ|x·w|.
#[test]
fn bf16_linear_matches_a_host_loop_at_every_row_count() {
    let mut rng = Rng(11);
    let (inp, out) = (70, 50);
    let round = |v: Vec<f32>| -> Vec<f32> {
        v.into_iter()
            .map(|x| tandem_tensor::bf16::from_f32(x).to_f32())
            .collect()
    };
    let (w, b) = (round(rng.vec(out * inp)), round(rng.vec(out)));
    let bf16 =
        |data: &[f32], dims: &[usize]| tensor(data, dims).to_dtype(DType::BF16).expect("bf16");
    let layer = Linear::new(bf16(&w, &[out, inp]), Some(bf16(&b, &[out])));
    for rows in [1, 10, 64, 65, 100] {
        let x = round(rng.vec(rows * inp));
        let got = layer
            .forward(&bf16(&x, &[rows, inp]))
            .and_then(|y| Ok(y.to_dtype(DType::F32)?.to_vec_f32()?))
            .expect("bf16 linear");
        for r in 0..rows {
            for o in 0..out {
                let (mut y, mut scale) = (b[o] as f64, b[o].abs() as f64);
                for i in 0..inp {
                    let p = x[r * inp + i] as f64 * w[o * inp + i] as f64;
                    y += p;
                    scale += p.abs();
                }
                let tol = y.abs() * 2f64.powi(-8) + 71.0 * 2f64.powi(-24) * scale;
                let g = got[r * out + o] as f64;
                assert!(
                    (g - y).abs() <= tol,
                    "rows {rows} [{r},{o}]: {g} vs {y} (tol {tol:e})"
                );
            }
        }
    }
}

/// An f32 `Linear` is packed into column panels where the backend has a kernel for them
/// (`Backend::panel_layout`: the CPU on AVX-512F or AVX2 + FMA) and it is a panel wide and
/// gives what `Tensor::linear` gives on the weight as stored, with leading dims, bias and activation, at row counts on
/// both sides of a register tile and a rayon task; `weight()` returns the weight exactly.
/// Bound: f32 accumulation of 70 products in any order, twice (both sides).
#[test]
fn an_f32_linear_packs_where_the_backend_can_and_matches_linear() {
    let mut rng = Rng(12);
    let (inp, out) = (70, 45);
    let (w, b) = (rng.vec(out * inp), rng.vec(out));
    let (wt, bt) = (tensor(&w, &[out, inp]), tensor(&b, &[out]));
    let layer = Linear::new(wt.clone(), Some(bt.clone()));
    let width = CpuBackend.panel_layout(DType::F32).map(|l| l.width);
    assert_eq!(layer.is_packed(), width.is_some_and(|w| out >= w));
    // A layer narrower than one panel stays a matrix (packing would pad it with zeros).
    let narrow = Linear::new(tensor(&w[..5 * inp], &[5, inp]), None);
    assert!(!narrow.is_packed() || width.is_some_and(|w| w <= 5));
    assert_eq!((layer.in_dim(), layer.out_dim()), (inp, out));
    assert_eq!(
        layer
            .weight()
            .and_then(|t| Ok(t.to_vec_f32()?))
            .expect("weight"),
        w
    );
    for rows in [1, 5, 12, 13, 97, 200] {
        let lead = if rows % 2 == 0 {
            [2, rows / 2]
        } else {
            [rows, 1]
        };
        let x = tensor(&rng.vec(rows * inp), &[lead[0], lead[1], inp]);
        let act = Some(tandem_tensor::Activation::Gelu);
        let got = layer.forward_act(&x, act).expect("packed linear");
        let want = x.linear(&wt, Some(&bt), act).expect("linear");
        assert_eq!(got.dims(), want.dims());
        // |x|, |w|, |b| ≤ 1: Σ|x·w| + |b| ≤ 71; GELU's slope is below 1.13.
        let bound = 2.0 * 71.0 * 71.0 * 2f64.powi(-24) * 1.13;
        assert_close_slices(
            &format!("{rows} rows"),
            &got.to_vec_f32().expect("read"),
            &want.to_vec_f32().expect("read"),
            Close::abs(bound),
        );
    }
    let bad = layer.forward(&tensor(&[0.0; 6], &[2, 3]));
    assert!(
        bad.as_ref()
            .is_err_and(|e| e.to_string().contains("does not end in 70")),
        "{bad:?}"
    );
}

/// A bf16 `Linear` is packed into depth-pair panels where the backend has them
/// (`Backend::panel_layout`: the CPU with a bf16 GEMM kernel and AVX512-BF16) and gives what
/// `Tensor::linear` gives on the weight as stored, at row counts on both sides of a register
/// tile, a row chunk of a task and the AMX boundary; `weight()` returns the weight exactly.
/// Both sides accumulate the same bf16 products in f32 (bound as in the f32 test) and round
/// once to bf16, so they differ by at most that bound plus one bf16 rounding of each
/// (2⁻⁸ relative).
#[test]
fn a_bf16_linear_packs_where_the_backend_can_and_matches_linear() {
    let mut rng = Rng(13);
    let (inp, out) = (70, 45);
    let bf = |v: &[f32], dims: &[usize]| tensor(v, dims).to_dtype(DType::BF16).expect("bf16");
    let (w, b) = (rng.vec(out * inp), rng.vec(out));
    let (wt, bt) = (bf(&w, &[out, inp]), bf(&b, &[out]));
    let layer = Linear::new(wt.clone(), Some(bt.clone()));
    let layout = CpuBackend.panel_layout(DType::BF16);
    assert_eq!(layer.is_packed(), layout.is_some_and(|l| out >= l.width));
    assert_eq!(
        layer
            .weight()
            .and_then(|t| Ok(t.to_vec_f32()?))
            .expect("weight"),
        wt.to_vec_f32().expect("read")
    );
    for rows in [1, 6, 7, 64, 65, 97, 200] {
        let x = bf(&rng.vec(rows * inp), &[rows, 1, inp]);
        let act = Some(tandem_tensor::Activation::Gelu);
        let got = layer.forward_act(&x, act).expect("packed linear");
        let want = x.linear(&wt, Some(&bt), act).expect("linear");
        assert_eq!(got.dims(), want.dims());
        let (got, want) = (
            got.to_vec_f32().expect("read"),
            want.to_vec_f32().expect("read"),
        );
        let bound = 2.0 * 71.0 * 71.0 * 2f64.powi(-24) * 1.13;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let tol = bound + 2.0 * 2f64.powi(-8) * f64::from(w.abs().max(g.abs()));
            assert!(
                (f64::from(*g) - f64::from(*w)).abs() <= tol,
                "{rows} rows, element {i}: {g} vs {w} (tolerance {tol:e})"
            );
        }
    }
}

/// The values of a `[b, h, n, d]` tensor as nested rows, for comparing cache contents.
fn rows4(t: &Tensor<CpuBackend>) -> Vec<Vec<f32>> {
    let d = t.dims().to_vec();
    let v = t.contiguous().expect("c").to_vec::<f32>().expect("read");
    v.chunks(d[1] * d[2] * d[3]).map(<[f32]>::to_vec).collect()
}

/// A cache holding `b` rows of `n` positions of distinct values, at capacity `cap`.
fn filled(rng: &mut Rng, b: usize, n: usize, cap: usize) -> (KvCache<CpuBackend>, Vec<f32>) {
    let (h, d) = (2, 3);
    let k = rng.vec(b * h * n * d);
    let mut cache = KvCache::with_capacity(cap);
    let kt = tensor(&k, &[b, h, n, d]);
    let negated: Vec<f32> = k.iter().map(|x| -x).collect();
    let vt = tensor(&negated, &[b, h, n, d]);
    cache.append(&kt, &vt).expect("append");
    (cache, k)
}

#[test]
fn extend_rows_right_aligns_the_joining_rows_and_pads_with_zeros() {
    let mut rng = Rng(29);
    let (mut running, k_old) = filled(&mut rng, 2, 5, 8);
    let (joining, k_new) = filled(&mut rng, 3, 2, 2);
    running.extend_rows(&joining).expect("extend");
    assert_eq!(running.len(), 5);
    assert_eq!(
        running.capacity(),
        8,
        "the running cache keeps its capacity"
    );
    let (k, v) = running.get().expect("get").expect("some");
    assert_eq!(k.dims(), &[5, 2, 5, 3]);
    let got = rows4(&k);
    let (h, d) = (2, 3);
    for (r, row) in got.iter().enumerate() {
        for head in 0..h {
            for p in 0..5 {
                let cell = &row[(head * 5 + p) * d..][..d];
                let want: Vec<f32> = if r < 2 {
                    k_old[((r * h + head) * 5 + p) * d..][..d].to_vec()
                } else if p < 3 {
                    vec![0.0; d]
                } else {
                    k_new[(((r - 2) * h + head) * 2 + p - 3) * d..][..d].to_vec()
                };
                assert_eq!(cell, want.as_slice(), "row {r} head {head} position {p}");
            }
        }
    }
    let neg: Vec<Vec<f32>> = got.iter().map(|r| r.iter().map(|x| -x).collect()).collect();
    assert_eq!(rows4(&v), neg, "values follow the keys");
    // Appending after the join writes every row's next position at column 5.
    let step = tensor(&[7.0; 5 * 2 * 3], &[5, 2, 1, 3]);
    let (k, _) = running.append(&step, &step).expect("append");
    assert_eq!(k.dims(), &[5, 2, 6, 3]);
    assert!(rows4(&k)
        .iter()
        .all(|row| row[5 * 3..6 * 3] == [7.0; 3] && row[11 * 3..12 * 3] == [7.0; 3]));
}

#[test]
fn extend_rows_into_an_empty_cache_adopts_the_rows_and_refuses_what_cannot_fit() {
    let mut rng = Rng(31);
    let (joining, k) = filled(&mut rng, 2, 3, 3);
    let mut empty = KvCache::with_capacity(10);
    empty.extend_rows(&joining).expect("extend");
    assert_eq!((empty.len(), empty.capacity()), (3, 10));
    let (got, _) = empty.get().expect("get").expect("some");
    assert_eq!(got.contiguous().expect("c").to_vec::<f32>().expect("r"), k);
    // Longer than the running cache, or empty: an error, the cache unchanged.
    let (longer, _) = filled(&mut rng, 1, 4, 4);
    assert!(empty.extend_rows(&longer).is_err());
    assert!(empty.extend_rows(&KvCache::new()).is_err());
    assert_eq!(empty.len(), 3);
    assert_eq!(
        empty.get().expect("get").expect("some").0.dims(),
        &[2, 2, 3, 3]
    );
}

#[test]
fn drop_front_shifts_every_row_left_and_keeps_the_capacity() {
    let mut rng = Rng(37);
    let (mut cache, k) = filled(&mut rng, 2, 5, 6);
    cache.drop_front(3).expect("drop");
    assert_eq!((cache.len(), cache.capacity()), (2, 6));
    let (got, _) = cache.get().expect("get").expect("some");
    let want: Vec<f32> = k
        .chunks(5 * 3)
        .flat_map(|head_rows| head_rows[3 * 3..].to_vec())
        .collect();
    assert_eq!(
        got.contiguous().expect("c").to_vec::<f32>().expect("r"),
        want
    );
    assert!(cache.drop_front(3).is_err(), "only 2 positions are left");
    cache.drop_front(0).expect("nothing to drop");
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_refused_join_leaves_the_running_cache_as_it_was() {
    let mut rng = Rng(41);
    let (mut running, k) = filled(&mut rng, 2, 5, 8);
    let (joining, _) = filled(&mut rng, 1, 2, 2);
    let mut half = KvCache::with_capacity(2);
    let (jk, jv) = joining.get().expect("get").expect("some");
    half.append(
        &jk.to_dtype(DType::BF16).expect("bf16"),
        &jv.to_dtype(DType::BF16).expect("bf16"),
    )
    .expect("append");
    let (longer, _) = filled(&mut rng, 1, 6, 6);
    for (what, other) in [("bf16 rows", &half), ("longer rows", &longer)] {
        assert!(running.check_extend_rows(other).is_err(), "{what}");
        assert!(running.extend_rows(other).is_err(), "{what}");
        assert_eq!((running.len(), running.capacity()), (5, 8), "{what}");
        let (got, _) = running.get().expect("get").expect("some");
        assert_eq!(
            got.contiguous().expect("c").to_vec::<f32>().expect("r"),
            k,
            "{what}: the cached keys are intact"
        );
    }
    running
        .check_extend_rows(&joining)
        .expect("f32 rows of length 2 fit");
}
