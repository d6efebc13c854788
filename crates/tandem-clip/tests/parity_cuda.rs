//! The CLIP golden parity checks on the CUDA backend, and the device preprocessing against the
//! CPU path. They need a CUDA driver, so each test is `#[ignore]`d with the reason (listed as
//! ignored by a plain `cargo test`, never a silent pass); `cargo test -p tandem-clip --test
//! parity_cuda -- --ignored` runs them on a GPU, or on the CUDA simulator (`cargo xtask
//! cuda-sim`), which is how CI runs them.

mod common;

use tandem_cuda::CudaBackend;
use tandem_image::{resize_bicubic, RgbImage, CLIP_MEAN, CLIP_STD};
use tandem_tensor::DType;
use tandem_tensor_testing::{acquire, assert_close, Close};

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn cuda_parity_with_transformers() {
    let gpu = acquire("clip parity (cuda)", CudaBackend::new(0));
    common::parity_suite(&gpu);
}

/// bf16 and f16 within the bound derived from transformers' own drift, as on the CPU.
#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn cuda_half_precision_within_transformers_drift() {
    let gpu = acquire("clip parity (cuda)", CudaBackend::new(0));
    for name in common::CONFIGS {
        for dtype in [DType::BF16, DType::F16] {
            common::model_outputs_in(&gpu, name, dtype);
        }
    }
}

/// Pillow-exact bicubic resize + normalize on the device equals the CPU path within one 8-bit
/// level (`1 / (255 · std)` after normalising), for BLIP's 384 and CLIP's 224 and odd sizes.
#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn cuda_resize_normalize_matches_the_cpu_path() {
    let gpu = acquire("resize_normalize (cuda)", CudaBackend::new(0));
    let (w, h) = (517, 389);
    let data: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 7919) % 251) as u8 ^ ((i / 3 % w) as u8))
        .collect();
    let img = RgbImage::new(w, h, data.clone()).expect("image");
    for (ow, oh) in [(384, 384), (224, 224), (298, 224), (37, 500), (w, 100)] {
        let cpu = resize_bicubic(&img, ow, oh);
        let dev = gpu
            .resize_normalize(
                &data,
                w,
                h,
                ow,
                oh,
                1.0 / 255.0,
                CLIP_MEAN,
                CLIP_STD,
                DType::F32,
            )
            .expect("device preprocessing")
            .to_vec::<f32>()
            .expect("read back");
        // Every channel within one 8-bit level after normalising (`1 / (255 · std_c)`), all
        // values finite: through the workspace's one comparison.
        for c in 0..3 {
            let want: Vec<f32> = (0..ow * oh)
                .map(|p| (cpu.data[p * 3 + c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c])
                .collect();
            let level = 1.0 / (255.0 * CLIP_STD[c] as f64) + 1e-5;
            assert_close(
                &format!("{ow}x{oh} channel {c}"),
                &[oh, ow],
                &dev[c * ow * oh..(c + 1) * ow * oh],
                &[oh, ow],
                &want,
                Close::abs(level),
            );
        }
    }
}
