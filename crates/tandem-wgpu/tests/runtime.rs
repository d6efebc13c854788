//! Runtime engineering, measured: a forward is a handful of submissions, a second forward
//! creates no device buffers, and setup failures are errors, not panics.

mod common;

use common::{assert_close, data, gpu};
use tandem_tensor::{attention, Activation, AttentionSpec, Backend, Result, Tensor};
use tandem_wgpu::{WgpuBackend, WgpuError};

const T: usize = 50; // tokens (ViT-B/32 at 224)
const D: usize = 64;
const H: usize = 4;
const MLP: usize = 256;
const LAYERS: usize = 12;

struct Block<B: Backend> {
    ln1: (Tensor<B>, Tensor<B>),
    qkv: (Tensor<B>, Tensor<B>),
    out: (Tensor<B>, Tensor<B>),
    ln2: (Tensor<B>, Tensor<B>),
    fc1: (Tensor<B>, Tensor<B>),
    fc2: (Tensor<B>, Tensor<B>),
}

fn param<B: Backend>(b: &B, seed: u64, dims: &[usize], scale: f32) -> Result<Tensor<B>> {
    let v: Vec<f32> = data(seed, dims.iter().product())
        .iter()
        .map(|x| x * scale)
        .collect();
    Tensor::from_slice(b, &v, dims)
}

impl<B: Backend> Block<B> {
    fn new(b: &B, seed: u64) -> Result<Self> {
        let s = seed * 100;
        let ln = |o| -> Result<_> {
            Ok((
                param(b, s + o, &[D], 0.1)?.affine(1.0, 1.0)?,
                param(b, s + o + 1, &[D], 0.1)?,
            ))
        };
        let lin = |o, out, inp| -> Result<_> {
            Ok((
                param(b, s + o, &[out, inp], 1.0 / (inp as f32).sqrt())?,
                param(b, s + o + 1, &[out], 0.02)?,
            ))
        };
        Ok(Block {
            ln1: ln(1)?,
            qkv: lin(3, 3 * D, D)?,
            out: lin(5, D, D)?,
            ln2: ln(7)?,
            fc1: lin(9, MLP, D)?,
            fc2: lin(11, D, MLP)?,
        })
    }

    /// A pre-norm ViT encoder layer, as the models write it.
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let (bsz, dh) = (x.dims()[0], D / H);
        let h = x.layer_norm(&self.ln1.0, &self.ln1.1, 1e-5)?;
        let qkv = h
            .linear(&self.qkv.0, Some(&self.qkv.1), None)?
            .reshape(&[bsz, T, 3, H, dh])?
            .permute(&[2, 0, 3, 1, 4])?;
        let (q, k, v) = (
            qkv.narrow(0, 0, 1)?.squeeze(0)?,
            qkv.narrow(0, 1, 1)?.squeeze(0)?,
            qkv.narrow(0, 2, 1)?.squeeze(0)?,
        );
        let a = attention(
            &q,
            &k,
            &v,
            None,
            AttentionSpec {
                scale: 1.0 / (dh as f32).sqrt(),
                causal: false,
            },
        )?;
        let a = a.permute(&[0, 2, 1, 3])?.reshape(&[bsz, T, D])?;
        let x = x.add(&a.linear(&self.out.0, Some(&self.out.1), None)?)?;
        let h = x.layer_norm(&self.ln2.0, &self.ln2.1, 1e-5)?;
        let h = h.linear(&self.fc1.0, Some(&self.fc1.1), Some(Activation::Gelu))?;
        x.add(&h.linear(&self.fc2.0, Some(&self.fc2.1), None)?)
    }
}

fn encoder<B: Backend>(b: &B) -> Result<Vec<Block<B>>> {
    (0..LAYERS as u64).map(|l| Block::new(b, l)).collect()
}

fn run<B: Backend>(blocks: &[Block<B>], x: &Tensor<B>) -> Result<Vec<f32>> {
    let mut x = x.clone();
    for b in blocks {
        x = b.forward(&x)?;
    }
    x.to_vec::<f32>()
}

#[test]
fn a_twelve_layer_forward_is_a_handful_of_submissions_and_allocates_nothing_the_second_time() {
    let g = gpu();
    let blocks = encoder(&g).unwrap();
    let x = param(&g, 9, &[2, T, D], 1.0).unwrap();
    g.synchronize().unwrap();

    let before = g.stats();
    let first = run(&blocks, &x).unwrap();
    let mid = g.stats();
    let second = run(&blocks, &x).unwrap();
    let after = g.stats();

    let subs = after.submissions - mid.submissions;
    let dispatches = after.dispatches - mid.dispatches;
    println!(
        "12-layer ViT-style forward: {dispatches} dispatches in {subs} submission(s); \
         buffers created: first forward {}, second forward {}",
        mid.buffers_created - before.buffers_created,
        after.buffers_created - mid.buffers_created
    );
    // One submission for the read-back, plus one per full batch of recorded dispatches.
    let bound = 1 + dispatches / tandem_wgpu::runtime::MAX_DISPATCHES;
    assert!(
        subs <= bound,
        "{subs} submissions for {dispatches} dispatches (bound {bound})"
    );
    assert_eq!(
        after.buffers_created, mid.buffers_created,
        "the second forward allocated device buffers"
    );
    assert_eq!(first, second, "the same forward gave different results");

    // And it computes what the CPU backend computes.
    let cpu = tandem_tensor::CpuBackend;
    let cblocks = encoder(&cpu).unwrap();
    let cx = param(&cpu, 9, &[2, T, D], 1.0).unwrap();
    let want = Tensor::from_slice(&cpu, &run(&cblocks, &cx).unwrap(), &[2, T, D]).unwrap();
    let got = Tensor::from_slice(&g, &first, &[2, T, D]).unwrap();
    // A whole f32 transformer block: the per-op 1e-4 (see `common::tol`) compounded through
    // two LayerNorms, attention and an MLP, about 10 ops deep: 1e-3 abs and rel.
    assert_close(
        "forward",
        &got,
        &want,
        tandem_tensor_testing::Close::new(1e-3, 1e-3),
    );
}

#[test]
fn an_adapter_name_that_matches_nothing_is_an_error_listing_the_adapters() {
    match WgpuBackend::with_adapter(Some("no-such-adapter-anywhere")) {
        Err(WgpuError::AdapterNotFound { wanted, available }) => {
            assert_eq!(wanted, "no-such-adapter-anywhere");
            assert!(!available.is_empty());
        }
        other => panic!("expected AdapterNotFound, got {other:?}"),
    }
}

#[test]
fn half_types_round_trip_exactly() {
    let g = gpu();
    let v: Vec<f32> = data(3, 33).iter().map(|x| x * 1000.0).collect();
    let h: Vec<half::f16> = v.iter().map(|&x| half::f16::from_f32(x)).collect();
    let b: Vec<half::bf16> = v.iter().map(|&x| half::bf16::from_f32(x)).collect();
    // Odd offsets into 2-byte storage exercise the unaligned read-back path.
    let th = Tensor::from_slice(&g, &h, &[33])
        .unwrap()
        .narrow(0, 3, 27)
        .unwrap();
    assert_eq!(th.to_vec::<half::f16>().unwrap(), h[3..30].to_vec());
    let tb = Tensor::from_slice(&g, &b, &[33])
        .unwrap()
        .narrow(0, 1, 30)
        .unwrap();
    assert_eq!(tb.to_vec::<half::bf16>().unwrap(), b[1..31].to_vec());
    // f32 → bf16 on the device rounds as `half` does.
    let t = Tensor::from_slice(&g, &v, &[33])
        .unwrap()
        .to_dtype(tandem_tensor::DType::BF16)
        .unwrap();
    assert_eq!(t.to_vec::<half::bf16>().unwrap(), b);
}
