//! A BLIP decoder step's `linear`s with the whole model's weights, f32 on the CPU: weights
//! packed once into column panels (`PackedRhs`, what `tandem_nn::Linear` keeps now) against
//! the contiguous `[in, out]` copy through `gemm` (what it kept before), in the same process
//! (issue 13: "weights packed once at load; today the GEMM library repacks every call").
//!
//! ```text
//! cargo run --release -p tandem-benches --bin packed_linear [-- --reps 7]
//! ```
//!
//! One step is the 73 products of BLIP base's text decoder for `m` rows (12 layers of
//! self-attention QKV 768 → 2304 and output 768 → 768, cross-attention query and output
//! 768 → 768, MLP 768 → 3072 → 768, then the LM head 768 → 30524), with bias: 396 MB of
//! decoder weights plus 94 MB of LM head, far more than any cache, so every weight comes from
//! DRAM as in a real step (a single-shape loop, like `decode_matmul`'s, keeps the weight hot
//! and hides what packing saves). Rows: 10 (one image's 10 captions), 20, 40, 60 (a merged
//! batch of six images) and 577 (one ViT-B/16@384 image, the large-m case packing must not
//! slow). Median of `--reps` steps after one warm-up, GFLOP/s, and the ratio packed / copy
//! (below 1: packing is faster). Prints the kernel and pool size; name the CPU and its flags
//! (`lscpu`) beside any figure you report.

use std::time::Duration;

use tandem_tensor::{Backend, CpuBackend, DType, PackedRhs, Tensor};

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
    copy: Tensor<CpuBackend>,
    packed: PackedRhs<CpuBackend>,
    bias: Tensor<CpuBackend>,
}

fn main() -> Result<()> {
    let reps = tandem_benches::timing::reps_from_args(7)?;
    let backend = CpuBackend;
    let Some(layout) = backend.panel_layout(DType::F32) else {
        println!(
            "this CPU has no f32 panel kernel (AVX-512F or AVX2 + FMA), or TANDEM_CPU_F32_PANELS \
             is off: nothing to compare"
        );
        return Ok(());
    };
    let mut rng = tandem_benches::data::Rng::new(17);
    let mut shapes: Vec<(usize, usize)> = (0..LAYERS).flat_map(|_| LAYER).collect();
    shapes.push(LM_HEAD);
    let mut step = Vec::with_capacity(shapes.len());
    for &(inp, out) in &shapes {
        // `[out, in]` as a checkpoint stores it; both forms are built from it as `Linear` does.
        let weight = Tensor::from_slice(&backend, &rng.vec(out * inp), &[out, inp])?;
        let wt = weight.transpose(0, 1)?;
        step.push(Projection {
            copy: wt.contiguous()?,
            packed: PackedRhs::with_layout(&wt, layout)?,
            bias: Tensor::from_slice(&backend, &rng.vec(out), &[out])?,
        });
    }
    println!(
        "one BLIP-base decoder step ({} products, {} MB of f32 weights), panels of {} columns, \
         rayon pool of {} threads, median of {reps} steps",
        step.len(),
        shapes.iter().map(|(i, o)| i * o * 4).sum::<usize>() / 1_000_000,
        layout.width,
        rayon::current_num_threads()
    );
    println!(
        "{:>4} {:>10} {:>8} {:>10} {:>8} {:>8}",
        "rows", "copy ms", "GFLOP/s", "packed ms", "GFLOP/s", "ratio"
    );
    for m in [10, 20, 40, 60, 577] {
        let x = Tensor::from_slice(&backend, &rng.vec(m * 3072), &[m, 3072])?;
        let inputs = [x.narrow(1, 0, 768)?.contiguous()?, x];
        let input = |inp: usize| &inputs[usize::from(inp == 3072)];
        let copy = time(reps, || {
            for p in &step {
                let x = input(p.copy.dims()[0]);
                std::hint::black_box(x.matmul_fused(&p.copy, Some(&p.bias), None)?);
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
        println!(
            "{m:>4} {:>10.2} {:>8.1} {:>10.2} {:>8.1} {:>8.2}",
            copy.as_secs_f64() * 1e3,
            gflops(copy),
            packed.as_secs_f64() * 1e3,
            gflops(packed),
            packed.as_secs_f64() / copy.as_secs_f64()
        );
    }
    Ok(())
}

/// The median time of `reps` calls of `f`, after one warm-up call.
fn time(reps: usize, f: impl FnMut() -> Result<()>) -> Result<Duration> {
    tandem_benches::timing::median_time(reps, 1, f)
}
