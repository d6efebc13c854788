//! Both attention kernels of `attention.cu` against the CPU backend, on shapes chosen to reach
//! each: the tensor-core kernel (bf16/f16, at least 16 query rows, `cp.async`-aligned rows) with
//! partial query blocks and key tiles, both head-dim variants (≤ 64 and ≤ 128, padded), causal
//! self-attention over a longer KV cache, an additive mask, keys shared by the batch (stride 0),
//! heads permuted out of `[b, l, h, d]`, values narrower than keys; and the SIMT kernel where
//! the host must fall back to it (decoding's one row, a head dim that is not a multiple of 8,
//! f32). Each dtype's run must have launched every kernel it is meant to reach (the device counts
//! launches per entry point).
//!
//! Needs a CUDA driver: ignored with the reason, run by `--ignored` on a GPU or on the CUDA
//! simulator (`cargo xtask cuda-sim`), as CI does.

mod common;

use common::{assert_each_launched, upload, values};
use tandem_cuda::CudaBackend;
use tandem_tensor::{attention, AttentionSpec, Backend, CpuBackend, DType, Tensor};

#[derive(Clone, Copy, Debug)]
struct Case {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    /// The values' head dim (`d` unless a case sets it).
    dv: usize,
    causal: bool,
    mask: bool,
    /// Keys and values of batch entry 0 serve every query batch entry.
    shared_kv: bool,
    /// q, k and v stored `[b, l, h, d]` and viewed as `[b, h, l, d]`.
    permuted: bool,
}

fn run<B: Backend>(be: &B, c: &Case, dtype: DType) -> Vec<f32> {
    let Case {
        b,
        h,
        lq,
        lk,
        d,
        dv,
        ..
    } = *c;
    let kv_b = if c.shared_kv { 1 } else { b };
    let make = |seed, batch, len, width| -> tandem_tensor::Result<Tensor<B>> {
        let data = values(seed, batch * h * len * width);
        if c.permuted {
            upload(be, &data, &[batch, len, h, width], dtype).permute(&[0, 2, 1, 3])
        } else {
            Ok(upload(be, &data, &[batch, h, len, width], dtype))
        }
    };
    let result = (|| {
        let q = make(11, b, lq, d)?;
        let k = make(12, kv_b, lk, d)?;
        let v = make(13, kv_b, lk, dv)?;
        // An additive mask over [b, 1, lq, lk] that differs from row to row (so a kernel that
        // read one row's mask for all would fail): in batch entry 0, even rows lose the last
        // quarter of the keys; everywhere, a small bias by (row, key).
        let mask = if c.mask {
            let m: Vec<f32> = (0..b * lq * lk)
                .map(|i| {
                    let (batch, row, key) = (i / (lq * lk), (i / lk) % lq, i % lk);
                    if batch == 0 && row % 2 == 0 && key >= lk - lk / 4 {
                        -1e4
                    } else {
                        0.3 * ((row * 7 + key) % 5) as f32 / 5.0
                    }
                })
                .collect();
            Some(upload(be, &m, &[b, 1, lq, lk], dtype))
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
        dv: d,
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
        // Values narrower than the keys.
        Case {
            dv: 32,
            ..case(1, 2, 40, 70, 64)
        },
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
    // The tensor-core kernel rounds the probabilities to the dtype before P·V (as FlashAttention
    // does; at most half an ulp of each, times values below 1), and both backends round each
    // output once: u + 2u·|expected|, with u half an ulp of the dtype.
    let u = match dtype {
        DType::BF16 => 2f32.powi(-8),
        DType::F16 => 2f32.powi(-11),
        _ => 5e-6,
    };
    let entries: Vec<String> = match dtype {
        DType::F32 => vec!["attention_f32_d64".into()],
        _ => [
            "attention_tc_{}_d64",
            "attention_tc_{}_d128",
            "attention_{}_d64",
        ]
        .iter()
        .map(|e| e.replace("{}", dtype.as_str()))
        .collect(),
    };
    assert_each_launched(&gpu, &entries, || {
        for c in cases() {
            let got = run(&gpu, &c, dtype);
            let expected = run(&CpuBackend, &c, dtype);
            assert_eq!(got.len(), expected.len(), "{c:?}");
            let mut worst = 0.0f32;
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                let err = (g - e).abs();
                let allowed = u + 2.0 * u * e.abs();
                assert!(
                    err <= allowed,
                    "{dtype:?} {c:?}: element {i}: got {g}, expected {e} (error {err} > {allowed})"
                );
                worst = worst.max(err);
            }
            eprintln!("{dtype:?} {c:?}: max abs error {worst}");
        }
    });
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
