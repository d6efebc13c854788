//! CLIP ViT-B/32 on the CPU backend with full-size random weights: image features at batch 1
//! and 8, text features for 10 captions of 14 tokens.
//!
//! The checkpoint is written by `write_random_checkpoint` (HF layout, f32) into a temp
//! directory and loaded through the normal mmap'd loader, so this also exercises loading a
//! full-size config. Reference (PyTorch fp32, 2 threads, same machine): ~90 ms image b=1,
//! ~55 ms/image at b=8, ~85 ms for 10 captions.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use tandem_clip::{write_random_checkpoint, ClipConfig, ClipModel, TokenBatch};
use tandem_image::ImageProcessor;
use tandem_nn::Weights;
use tandem_tensor::{Backend, CpuBackend, DType, Tensor};

fn model() -> ClipModel<CpuBackend> {
    let dir =
        std::env::temp_dir().join(format!("tandem-clip-bench-vit-b-32-{}", std::process::id()));
    let cfg = ClipConfig::vit_b_32();
    write_random_checkpoint(&dir, &cfg, DType::F32, 42).expect("write random ViT-B/32");
    let w =
        Weights::from_file(dir.join("model.safetensors"), &CpuBackend, DType::F32).expect("map");
    let m =
        ClipModel::from_weights(cfg, &w, None, ImageProcessor::clip(224)).expect("load ViT-B/32");
    let _ = std::fs::remove_dir_all(&dir);
    m
}

fn pixels(batch: usize) -> Tensor<CpuBackend> {
    let data: Vec<f32> = (0..batch * 3 * 224 * 224)
        .map(|i| ((i * 7919) % 255) as f32 / 127.0 - 1.0)
        .collect();
    Tensor::from_slice(&CpuBackend, &data, &[batch, 3, 224, 224]).expect("pixels")
}

/// 10 captions of 14 tokens: `<|startoftext|>`, 12 word ids, `<|endoftext|>`.
fn tokens() -> TokenBatch {
    let (batch, len) = (10, 14);
    let mut ids = Vec::with_capacity(batch * len);
    for b in 0..batch {
        ids.push(49406);
        ids.extend((0..len - 2).map(|t| (320 + 97 * b + 13 * t) as u32));
        ids.push(49407);
    }
    TokenBatch {
        ids,
        mask: vec![1; batch * len],
        batch,
        len,
    }
}

fn bench(c: &mut Criterion) {
    let m = model();
    let mut g = c.benchmark_group("cpu/clip-vit-b-32");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    for batch in [1usize, 8] {
        let px = pixels(batch);
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("image_features/b{batch}"), |b| {
            b.iter(|| {
                let f = m.image_features_from_pixels(&px).expect("forward");
                CpuBackend.synchronize().expect("sync");
                f
            })
        });
    }
    let t = tokens();
    g.throughput(Throughput::Elements(t.batch as u64));
    g.bench_function("text_features/10x14", |b| {
        b.iter(|| m.text_features_from_tokens(&t).expect("forward"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
