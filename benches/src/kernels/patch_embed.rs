//! `patch_embed`: a ViT's stride-`p` convolution over the image (im2col view + one matmul).
//! Throughput: FLOP/s of the matmul (`2·patches·(c·p·p)·d`); the im2col gather is included in
//! the time but not counted.

use crate::data::random;
use crate::timing::{bench_op, must};
use criterion::{Criterion, Throughput};
use tandem_tensor::Backend;

/// `(id, batch, image side, patch side)`; 3 channels, 768 wide.
const CASES: &[(&str, usize, usize, usize)] = &[
    ("vit_b16_384/1x3x384x384_p16", 1, 384, 16),
    ("vit_b32_224/1x3x224x224_p32", 1, 224, 32),
    ("vit_b32_224/8x3x224x224_p32", 8, 224, 32),
];

const CHANNELS: usize = 3;
const WIDTH: usize = 768;

pub fn bench_patch_embed<B: Backend>(c: &mut Criterion, backend: &B, prefix: &str) {
    let mut group = c.benchmark_group(format!("{prefix}/patch_embed"));
    for &(id, batch, side, p) in CASES {
        let name = format!("{prefix}/patch_embed/{id}");
        let pixels = must(
            &name,
            random(backend, &[batch, CHANNELS, side, side], 1.0, 81),
        );
        let weight = must(&name, random(backend, &[WIDTH, CHANNELS, p, p], 0.02, 82));
        let bias = must(&name, random(backend, &[WIDTH], 0.02, 83));
        let patches = batch * (side / p) * (side / p);
        group.throughput(Throughput::Elements(
            2 * (patches * CHANNELS * p * p * WIDTH) as u64,
        ));
        group.bench_function(id, |bencher| {
            bench_op(bencher, backend, &name, || {
                pixels.patch_embed(&weight, Some(&bias))
            })
        });
    }
    group.finish();
}
