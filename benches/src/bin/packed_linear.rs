//! A BLIP decoder step's `linear`s with the whole model's weights on the CPU: weights packed
//! once into column panels (`PackedRhs`, what `tandem_nn::Linear` keeps now) against the form
//! `Linear` kept before, in the same process (issue 13: "weights packed once at load; today
//! the GEMM library repacks every call").
//!
//! ```text
//! cargo run --release -p tandem-benches --bin packed_linear [-- --reps 7] [--dtype bf16]
//! ```
//!
//! - `--dtype f32` (default): plain panels against the contiguous `[in, out]` copy through
//!   `gemm`.
//! - `--dtype bf16`: 32-column panels of depth pairs (`gemm_bf16::PANEL_LAYOUT`) against the
//!   weight as stored (`[out, in]`: the skinny `VDPBF16PS` kernel up to 64 rows, the bf16 GEMM
//!   packing it on every call above). Two more columns run the packed weights on each of the
//!   two kernels `matmul_packed` chooses between (`gemm_bf16::rows` and the GEMM kernel), the
//!   measurement behind `gemm_bf16::ROWS_MAX`.
//!
//! One step is the 73 products of BLIP base's text decoder for `m` rows (12 layers of
//! self-attention QKV 768 → 2304 and output 768 → 768, cross-attention query and output
//! 768 → 768, MLP 768 → 3072 → 768, then the LM head 768 → 30524), with bias: 396 MB of
//! decoder weights plus 94 MB of LM head in f32 (half in bf16), far more than any cache, so
//! every weight comes from DRAM as in a real step (a single-shape loop, like `decode_matmul`'s,
//! keeps the weight hot and hides what packing saves). Rows: one caption, 10 (one image's 10
//! captions), 20, 40, 60 or 64 (a merged batch of six images), 96 and 577 (one
//! ViT-B/16@384 image, the large-m case packing must not slow). Median of `--reps` steps after
//! one warm-up, GFLOP/s, and the ratio packed / before (below 1: packing is faster). Prints
//! the kernels and pool size; name the CPU and its flags (`lscpu`) beside any figure you
//! report.

use std::time::Duration;

use tandem_tensor::cpu::ops::gemm_bf16;
use tandem_tensor::cpu::CpuStorage;
use tandem_tensor::{Backend, CpuBackend, DType, MatrixRef, PackedRhs, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One decoder layer's `(in, out)` projections, in the order a step runs them.
const LAYER: [(usize, usize); 6] = [
    (768, 2304),
    (768, 768),
    (768, 768),
    (768, 768),
    (768, 3072),
    (3072, 768),
];
const LAYERS: usize = 12;
const LM_HEAD: (usize, usize) = (768, 30524);

/// One projection in both forms, with its bias.
struct Projection {
    /// What `Linear` kept before: the `[in, out]` copy (f32) or the `[out, in]` weight (bf16).
    before: Tensor<CpuBackend>,
    packed: PackedRhs<CpuBackend>,
    bias: Tensor<CpuBackend>,
}

/// `--reps N` and `--dtype f32|bf16`.
fn args() -> Result<(usize, DType)> {
    let (mut reps, mut dtype) = (7, DType::F32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--reps" => reps = value()?.parse()?,
            "--dtype" => {
                dtype = match value()?.as_str() {
                    "f32" => DType::F32,
                    "bf16" => DType::BF16,
                    other => return Err(format!("--dtype {other}: f32 or bf16").into()),
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok((reps.max(1), dtype))
}

fn main() -> Result<()> {
    let (reps, dtype) = args()?;
    let backend = CpuBackend;
    let Some(layout) = backend.panel_layout(dtype) else {
        println!(
            "this CPU packs no {dtype} weights (f32: AVX-512F or AVX2 + FMA; bf16: a bf16 GEMM \
             kernel and AVX512-BF16), or TANDEM_CPU_F32_PANELS / TANDEM_CPU_BF16_PANELS is \
             off: nothing to compare"
        );
        return Ok(());
    };
    let bf16 = dtype == DType::BF16;
    let mut rng = tandem_benches::data::Rng::new(17);
    let mut shapes: Vec<(usize, usize)> = (0..LAYERS).flat_map(|_| LAYER).collect();
    shapes.push(LM_HEAD);
    let mut step = Vec::with_capacity(shapes.len());
    for &(inp, out) in &shapes {
        // `[out, in]` as a checkpoint stores it; both forms are built from it as `Linear` does.
        let weight =
            Tensor::from_slice(&backend, &rng.vec(out * inp), &[out, inp])?.to_dtype(dtype)?;
        let wt = weight.transpose(0, 1)?;
        step.push(Projection {
            before: if bf16 { weight } else { wt.contiguous()? },
            packed: PackedRhs::with_layout(&wt, layout)?,
            bias: Tensor::from_slice(&backend, &rng.vec(out), &[out])?.to_dtype(dtype)?,
        });
    }
    println!(
        "one BLIP-base decoder step ({} products, {} MB of {dtype} weights), {layout:?}, \
         bf16 GEMM kernel {:?}, rayon pool of {} threads, median of {reps} steps",
        step.len(),
        shapes.iter().map(|(i, o)| i * o).sum::<usize>() * dtype.size_in_bytes() / 1_000_000,
        gemm_bf16::selected(),
        rayon::current_num_threads()
    );
    let before_name = if bf16 { "stored ms" } else { "copy ms" };
    print!(
        "{:>4} {before_name:>10} {:>8} {:>10} {:>8} {:>8}",
        "rows", "GFLOP/s", "packed ms", "GFLOP/s", "ratio"
    );
    println!(
        "{}",
        if bf16 {
            "   rows-kernel ms  GEMM-kernel ms"
        } else {
            ""
        }
    );
    let rows: &[usize] = if bf16 {
        &[1, 10, 20, 40, 64, 96, 192, 577]
    } else {
        &[10, 20, 40, 60, 577]
    };
    for &m in rows {
        let x = Tensor::from_slice(&backend, &rng.vec(m * 3072), &[m, 3072])?.to_dtype(dtype)?;
        let inputs = [x.narrow(1, 0, 768)?.contiguous()?, x];
        let input = |inp: usize| &inputs[usize::from(inp == 3072)];
        let before = time(reps, || {
            for p in &step {
                let x = input(p.packed.k());
                let y = if bf16 {
                    x.linear(&p.before, Some(&p.bias), None)?
                } else {
                    x.matmul_fused(&p.before, Some(&p.bias), None)?
                };
                std::hint::black_box(y);
            }
            Ok(())
        })?;
        let packed = time(reps, || {
            for p in &step {
                let x = input(p.packed.k());
                std::hint::black_box(x.matmul_packed(&p.packed, Some(&p.bias), None)?);
            }
            Ok(())
        })?;
        let flops: f64 = shapes.iter().map(|(i, o)| 2.0 * (m * i * o) as f64).sum();
        let gflops = |d: Duration| flops / d.as_secs_f64() / 1e9;
        print!(
            "{m:>4} {:>10.2} {:>8.1} {:>10.2} {:>8.1} {:>8.2}",
            before.as_secs_f64() * 1e3,
            gflops(before),
            packed.as_secs_f64() * 1e3,
            gflops(packed),
            packed.as_secs_f64() / before.as_secs_f64()
        );
        if bf16 {
            let on = |rows_kernel: bool| {
                time(reps, || {
                    for p in &step {
                        each_kernel(input(p.packed.k()), &p.packed, rows_kernel)?;
                    }
                    Ok(())
                })
            };
            let (r, g) = (on(true)?, on(false)?);
            print!(
                "   {:>14.2}  {:>14.2}",
                r.as_secs_f64() * 1e3,
                g.as_secs_f64() * 1e3
            );
        }
        println!();
    }
    Ok(())
}

/// `x · packed` (no bias) on the few-rows kernel or on the GEMM kernel, whatever
/// `matmul_packed` would choose for the row count.
fn each_kernel(
    x: &Tensor<CpuBackend>,
    packed: &PackedRhs<CpuBackend>,
    rows_kernel: bool,
) -> Result<()> {
    let (CpuStorage::BF16(a), CpuStorage::BF16(panels)) = (x.storage(), packed.panels().storage())
    else {
        return Err("bf16 operands expected".into());
    };
    let kernel = gemm_bf16::selected().ok_or("no bf16 GEMM kernel")?;
    let (m, k, n) = (x.dims()[0], packed.k(), packed.n());
    let lhs = MatrixRef {
        offset: x.layout().offset(),
        batch_stride: 0,
        row_stride: x.layout().strides()[0],
        col_stride: 1,
    };
    let start = packed.panels().layout().offset();
    let len = packed.panels().dims().iter().product::<usize>();
    let panels = &panels[start..start + len];
    let mut out = vec![0f32; m * n];
    if rows_kernel {
        #[cfg(target_arch = "x86_64")]
        gemm_bf16::rows::matmul((&lhs, a), (m, k, n), panels, &mut out, false);
        #[cfg(not(target_arch = "x86_64"))]
        return Err("the few-rows kernel is x86-64 only".into());
    } else {
        gemm_bf16::matmul_prepacked(kernel, (&lhs, a), (m, k, n), panels, &mut out, false);
    }
    std::hint::black_box(out);
    Ok(())
}

/// The median time of `reps` calls of `f`, after one warm-up call.
fn time(reps: usize, f: impl FnMut() -> Result<()>) -> Result<Duration> {
    tandem_benches::timing::median_time(reps, 1, f)
}
