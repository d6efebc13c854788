//! Every variant and operand loader of `matmul.cu` against the CPU backend, on shapes chosen to
//! reach each one: the 64 × 64 and 128 × 128 tensor-core tiles (the host picks the big tile for
//! products of at least one full tile per SM: on an H100/H200's 132 SMs only the 1536 × 1536
//! case takes it, on the simulator's single SM every case from 128 × 128 up), the `cp.async`
//! loader (k-contiguous operands with 16-byte aligned rows) and the element loader (everything
//! else), with partial tiles in m, n and k, batches and the fused bias + activation epilogue.
//! The random conformance suite draws mostly small, odd shapes; these are the ones it rarely
//! reaches. Each dtype's run must have launched both tile variants (the device counts launches
//! per entry point), so a dispatch change cannot quietly leave one untested.
//!
//! Needs a CUDA driver: ignored with the reason, run by `--ignored` on a GPU or on the CUDA
//! simulator (`cargo xtask cuda-sim`), as CI does.

mod common;

use common::{assert_each_launched, upload, values};
use tandem_cuda::CudaBackend;
use tandem_tensor::{Activation, Backend, CpuBackend, DType, Tensor};

/// How an operand is stored and viewed.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// `lhs [batch, m, k]` · `rhs [batch, k, n]`, both row-major.
    Plain,
    /// `x [batch, m, k]` · `w [n, k]ᵀ` (`linear`): both operands k-contiguous.
    Linear,
    /// `lhs` stored as `[batch, k, m]` and viewed transposed: the element loader for A.
    TransposedLhs,
}

struct Case {
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    form: Form,
    bias: bool,
    activation: Option<Activation>,
}

/// The product on `be` in `dtype`, as f32.
fn product<B: Backend>(be: &B, c: &Case, dtype: DType) -> Vec<f32> {
    let (b, m, n, k) = (c.batch, c.m, c.n, c.k);
    let a_data = values(1 + (m * k) as u64, b * m * k);
    let w_data = values(2 + (n * k) as u64, b * k * n);
    let bias = c.bias.then(|| upload(be, &values(3, n), &[n], dtype));
    let run = || -> tandem_tensor::Result<Tensor<B>> {
        match c.form {
            Form::Plain => {
                let a = upload(be, &a_data, &[b, m, k], dtype);
                let w = upload(be, &w_data, &[b, k, n], dtype);
                a.matmul_fused(&w, bias.as_ref(), c.activation)
            }
            Form::Linear => {
                let a = upload(be, &a_data, &[b, m, k], dtype);
                let w = upload(be, &w_data[..n * k], &[n, k], dtype);
                a.linear(&w, bias.as_ref(), c.activation)
            }
            Form::TransposedLhs => {
                let a = upload(be, &a_data, &[b, k, m], dtype).transpose(1, 2)?;
                let w = upload(be, &w_data, &[b, k, n], dtype);
                a.matmul_fused(&w, bias.as_ref(), c.activation)
            }
        }
    };
    run()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec::<f32>())
        .unwrap_or_else(|e| panic!("{:?} on {}: {e}", (b, m, n, k, c.form), be.name()))
}

fn cases() -> Vec<Case> {
    let case = |batch, m, n, k, form| Case {
        batch,
        m,
        n,
        k,
        form,
        bias: false,
        activation: None,
    };
    vec![
        // 128 × 128 tile on a GPU too (144 tiles), cp.async on both operands.
        case(1, 1536, 1536, 24, Form::Linear),
        // 128 × 128 on the simulator: one exact tile, then tails in m, n and k.
        case(1, 128, 128, 64, Form::Linear),
        case(1, 200, 300, 136, Form::Linear),
        // B n-contiguous: the element loader for B; A still cp.async.
        case(1, 130, 257, 40, Form::Plain),
        // k odd: neither operand has aligned rows.
        case(1, 129, 131, 13, Form::Linear),
        // A transposed: the element loader for A.
        case(1, 140, 136, 48, Form::TransposedLhs),
        // 64 × 64 tile everywhere: one exact tile, a skinny decoding product, a batch.
        case(1, 64, 64, 32, Form::Linear),
        case(1, 5, 1000, 96, Form::Linear),
        case(3, 70, 150, 24, Form::Plain),
        // A batch of two tiles' worth (the 128 × 128 tile on the simulator only).
        case(2, 150, 140, 64, Form::Plain),
        // The fused epilogue on both tiles.
        Case {
            bias: true,
            activation: Some(Activation::Gelu),
            ..case(1, 160, 192, 72, Form::Linear)
        },
        Case {
            bias: true,
            activation: Some(Activation::QuickGelu),
            ..case(1, 7, 96, 40, Form::Linear)
        },
    ]
}

fn check(dtype: DType) {
    let gpu = tandem_tensor_testing::acquire("matmul variants (cuda)", CudaBackend::new(0));
    // Half an ulp of the dtype, relative (the rounding of each output).
    let rel = match dtype {
        DType::BF16 => 2f32.powi(-8),
        DType::F16 => 2f32.powi(-11),
        _ => 1e-6,
    };
    let variants: Vec<String> = match dtype {
        DType::F32 => vec!["matmul_f32".into()],
        _ => vec![
            format!("matmul_{}", dtype.as_str()),
            format!("matmul_{}_128x128", dtype.as_str()),
        ],
    };
    assert_each_launched(&gpu, &variants, || {
        for c in cases() {
            let got = product(&gpu, &c, dtype);
            // The CPU backend on the same inputs in the same dtype: both round the f32 accumulation
            // once, so they differ by at most about one ulp of the output.
            let expected = product(&CpuBackend, &c, dtype);
            let what = (c.batch, c.m, c.n, c.k, c.form);
            assert_eq!(got.len(), expected.len(), "{what:?}");
            let mut worst = 0.0f32;
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                let err = (g - e).abs();
                let allowed = 2.0 * rel * e.abs() + 1e-3;
                assert!(
                err <= allowed,
                "{dtype:?} {what:?}: element {i}: got {g}, expected {e} (error {err} > {allowed})"
            );
                worst = worst.max(err);
            }
            eprintln!("{dtype:?} {what:?}: max abs error {worst}");
        }
    });
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn bf16_variants_match_the_cpu_backend() {
    check(DType::BF16);
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn f16_variants_match_the_cpu_backend() {
    check(DType::F16);
}

#[test]
#[ignore = "needs a CUDA driver: run with --ignored on a GPU (scripts/gpu-check.sh) or on the simulator (LD_LIBRARY_PATH=$(cargo xtask cuda-sim)), as CI does"]
fn f32_matches_the_cpu_backend() {
    check(DType::F32);
}
