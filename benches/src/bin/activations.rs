//! GELU, QuickGELU and softmax on the CPU backend against the scalar forms they replaced, in the same
//! process (issue 13: the scalar exact GELU of one ViT MLP activation, 577×3072, cost about
//! 50 ms); and the residual add fused with the layer norm after it (`add_layer_norm`) against
//! `add` then `layer_norm`, in f32 and bf16.
//!
//! ```text
//! cargo run --release -p tandem-benches --bin activations [-- --reps 30]
//! ```
//!
//! Both sides run over the CPU backend's rayon pool in chunks of 4096, as the old kernel did:
//! the ratio is the per-element cost, not a change of threading. Prints the median of
//! `--reps` runs of each and the ratio `Tensor op / scalar form`, with the pool size; name
//! the CPU and its flags (`lscpu`) beside any figure you report.

use std::time::Duration;

use rayon::prelude::*;
use tandem_tensor::{CpuBackend, DType, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const ROWS: usize = 577;
const COLS: usize = 3072;

/// The median time of `reps` calls of `f`.
fn time(reps: usize, f: impl FnMut() -> Result<()>) -> Result<Duration> {
    tandem_benches::timing::median_time(reps, 0, f)
}

fn main() -> Result<()> {
    let reps = tandem_benches::timing::reps_from_args(30)?;
    // Pre-activations of a transformer MLP: roughly normal, a few large.
    let data: Vec<f32> = (0..ROWS * COLS)
        .map(|i| {
            let u =
                ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1 << 24) as f32;
            (u - 0.5) * 8.0
        })
        .collect();
    let backend = CpuBackend;
    let x = Tensor::from_slice(&backend, &data, &[ROWS, COLS])?;
    type Scalar = fn(f32) -> f32;
    type Op = fn(&Tensor<CpuBackend>) -> tandem_tensor::Result<Tensor<CpuBackend>>;
    let cases: [(&str, Scalar, Op); 2] = [
        (
            "gelu",
            |v| 0.5 * v * (1.0 + libm::erff(v * std::f32::consts::FRAC_1_SQRT_2)),
            |t| t.gelu(),
        ),
        (
            "quick_gelu",
            |v| v / (1.0 + (-1.702 * v).exp()),
            |t| t.quick_gelu(),
        ),
    ];
    println!(
        "{ROWS}x{COLS} f32, rayon pool of {} threads, median of {reps}",
        rayon::current_num_threads()
    );
    for (name, scalar, op) in cases {
        let old = time(reps, || {
            let mut v = data.clone();
            v.par_chunks_mut(4096)
                .for_each(|c| c.iter_mut().for_each(|e| *e = scalar(*e)));
            std::hint::black_box(&v);
            Ok(())
        })?;
        let new = time(reps, || {
            std::hint::black_box(op(&x)?);
            Ok(())
        })?;
        println!(
            "{name:<11} scalar {:>8.2} ms  tandem {:>8.2} ms  ratio {:.2}",
            old.as_secs_f64() * 1e3,
            new.as_secs_f64() * 1e3,
            new.as_secs_f64() / old.as_secs_f64()
        );
    }
    // Attention probabilities of one ViT layer: 12 heads × 577 queries × 577 keys.
    let (heads, len) = (12, 577);
    let scores: Vec<f32> = data
        .iter()
        .copied()
        .cycle()
        .take(heads * len * len)
        .collect();
    let s = Tensor::from_slice(&backend, &scores, &[heads, len, len])?;
    let old = time(reps, || {
        let mut v = scores.clone();
        v.par_chunks_mut(len).for_each(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for x in row.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            row.iter_mut().for_each(|x| *x /= sum);
        });
        std::hint::black_box(&v);
        Ok(())
    })?;
    let new = time(reps, || {
        std::hint::black_box(s.softmax(None, false)?);
        Ok(())
    })?;
    println!(
        "{:<11} scalar {:>8.2} ms  tandem {:>8.2} ms  ratio {:.2}  ({heads}x{len}x{len})",
        "softmax",
        old.as_secs_f64() * 1e3,
        new.as_secs_f64() * 1e3,
        new.as_secs_f64() / old.as_secs_f64()
    );
    residual_layer_norm(reps, &data)
}

/// One ViT-B/16 residual at 384 px (4 images × 577 tokens × 768): `add` then `layer_norm`, as the
/// blocks ran before, against the fused `add_layer_norm`, which returns the same two tensors.
fn residual_layer_norm(reps: usize, data: &[f32]) -> Result<()> {
    let (rows, cols) = (4 * ROWS, 768);
    let backend = CpuBackend;
    let gamma: Vec<f32> = (0..cols).map(|i| 1.0 + (i % 7) as f32 * 0.01).collect();
    let beta: Vec<f32> = (0..cols).map(|i| (i % 5) as f32 * 0.01).collect();
    for dtype in [DType::F32, DType::BF16] {
        let t = |values: &[f32], dims: &[usize]| -> Result<Tensor<CpuBackend>> {
            Ok(Tensor::from_slice(&backend, values, dims)?.to_dtype(dtype)?)
        };
        let values = |skip: usize| -> Vec<f32> {
            data.iter()
                .copied()
                .cycle()
                .skip(skip)
                .take(rows * cols)
                .collect()
        };
        let x = t(&values(0), &[rows, cols])?;
        let r = t(&values(12_345), &[rows, cols])?;
        let (g, b) = (t(&gamma, &[cols])?, t(&beta, &[cols])?);
        let old = time(reps, || {
            let sum = x.add(&r)?;
            std::hint::black_box(sum.layer_norm(&g, &b, 1e-6)?);
            std::hint::black_box(sum);
            Ok(())
        })?;
        let new = time(reps, || {
            std::hint::black_box(x.add_layer_norm(&r, &g, &b, 1e-6)?);
            Ok(())
        })?;
        println!(
            "{:<11} unfused {:>7.2} ms  fused {:>8.2} ms  ratio {:.2}  ({rows}x{cols} {dtype})",
            "add+ln",
            old.as_secs_f64() * 1e3,
            new.as_secs_f64() * 1e3,
            new.as_secs_f64() / old.as_secs_f64()
        );
    }
    Ok(())
}
