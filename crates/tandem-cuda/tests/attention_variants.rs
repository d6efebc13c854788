//! Both attention kernels of `attention.cu` against the CPU backend, on shapes chosen to reach
//! each: the tensor-core kernel (bf16/f16, at least 16 query rows, `cp.async`-aligned rows) with
//! partial query blocks and key tiles, both head-dim variants (≤ 64 and ≤ 128, padded), causal
//! self-attention over a longer KV cache, an additive mask, keys shared by the batch (stride 0),
//! heads permuted out of `[b, l, h, d]`; and the SIMT kernel where the host must fall back to it
//! (decoding's one row, a head dim that is not a multiple of 8, f32).
//!
//! Needs a CUDA driver: ignored with the reason, run by `--ignored` on a GPU or on the CUDA
//! simulator (`cargo xtask cuda-sim`), as CI does.

mod common;

use common::{upload, values};
use tandem_cuda::CudaBackend;
use tandem_tensor::{attention, AttentionSpec, Backend, CpuBackend, DType, Tensor};

#[derive(Clone, Copy, Debug)]
struct Case {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    causal: bool,
    mask: bool,
    /// Keys and values of batch entry 0 serve every query batch entry.
    shared_kv: bool,
    /// q, k and v stored `[b, l, h, d]` and viewed as `[b, h, l, d]`.
    permuted: bool,
}

fn run<B: Backend>(be: &B, c: &Case, dtype: DType) -> Vec<f32> {
    let Case {
        b, h, lq, lk, d, ..
    } = *c;
    let kv_b = if c.shared_kv { 1 } else { b };
    let make = |seed, batch, len| -> tandem_tensor::Result<Tensor<B>> {
        let data = values(seed, batch * h * len * d);
        if c.permuted {
            upload(be, &data, &[batch, len, h, d], dtype).permute(&[0, 2, 1, 3])
        } else {
            Ok(upload(be, &data, &[batch, h, len, d], dtype))
        }
    };
    let result = (|| {
        let q = make(11, b, lq)?;
        let k = make(12, kv_b, lk)?;
        let v = make(13, kv_b, lk)?;
        // Additive mask over [b, 1, 1, lk]: the last quarter of the keys of batch entry 0 hidden.
        let mask = if c.mask {
            let m: Vec<f32> = (0..b * lk)
                .map(|i| {
                    if i < lk && i >= lk - lk / 4 {
                        -1e4
                    } else {
                        0.25 * ((i % 3) as f32)
                    }
                })
                .collect();
            Some(upload(be, &m, &[b, 1, 1, lk], dtype))
        } else {
            None
        };
        let spec = AttentionSpec {
            scale: 1.0 / (d as f32).sqrt(),
            causal: c.causal,
        };
        attention(&q, &k, &v, mask.as_ref(), spec)?
            .to_dtype(DType::F32)?
            .to_vec::<f32>()
    })();
    result.unwrap_or_else(|e| panic!("{c:?} {dtype:?} on {}: {e}", be.name()))
}

fn cases() -> Vec<Case> {
    let case = |b, h, lq, lk, d| Case {
        b,
        h,
        lq,
        lk,
        d,
        causal: false,
        mask: false,
        shared_kv: false,
        permuted: false,
    };
    vec![
        // Tensor cores, d ≤ 64: an exact block and tile, then partial query blocks and key tiles.
        case(1, 2, 64, 64, 64),
        case(2, 3, 77, 150, 64),
        // A ViT-like encoder length with a padded head dim.
        case(1, 2, 145, 145, 32),
        // d ≤ 128 (32-key tiles), and padded.
        case(1, 2, 70, 100, 128),
        case(1, 1, 33, 40, 80),
        // Causal prefill over a longer cache (queries at the end of the keys).
        Case {
            causal: true,
            ..case(2, 2, 40, 100, 64)
        },
        Case {
            causal: true,
            ..case(1, 2, 130, 130, 64)
        },
        // An additive mask, and keys shared by the batch (cross-attention to one image).
        Case {
            mask: true,
            ..case(2, 2, 50, 90, 64)
        },
        Case {
            shared_kv: true,
            ..case(3, 2, 20, 65, 64)
        },
        // Heads permuted out of [b, l, h, d]: strided rows, still aligned.
        Case {
            permuted: true,
            ..case(2, 4, 48, 48, 32)
        },
        // The SIMT kernel: one query row (decoding), a head dim not a multiple of 8.
        Case {
            causal: true,
            ..case(2, 2, 1, 37, 64)
        },
        case(1, 2, 40, 40, 12),
    ]
}

fn check(dtype: DType) {
    let gpu = tandem_tensor_testing::acquire("attention variants (cuda)", CudaBackend::new(0));
    // The probabilities are rounded to the dtype before P·V on tensor cores (as FlashAttention
    // does), the CPU backend keeps them in f32: a few ulps of the dtype on outputs below 1.
    let atol = match dtype {
        DType::BF16 => 8e-3,
        DType::F16 => 1e-3,
        _ => 1e-5,
    };
    for c in cases() {
        let got = run(&gpu, &c, dtype);
        let expected = run(&CpuBackend, &c, dtype);
        assert_eq!(got.len(), expected.len(), "{c:?}");
        let mut worst = 0.0f32;
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let err = (g - e).abs();
            assert!(
                err <= atol,
                "{dtype:?} {c:?}: element {i}: got {g}, expected {e} (error {err} > {atol})"
            );
            worst = worst.max(err);
        }
        eprintln!("{dtype:?} {c:?}: max abs error {worst}");
    }
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn bf16_kernels_match_the_cpu_backend() {
    check(DType::BF16);
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn f16_kernels_match_the_cpu_backend() {
    check(DType::F16);
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn f32_kernel_matches_the_cpu_backend() {
    check(DType::F32);
}
