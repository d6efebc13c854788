//! Prints matmul GFLOP/s at the models' shapes next to this machine's theoretical f32 peak, and
//! the fused-vs-unfused attention comparison, without criterion (a quick, readable table).
//!
//! ```text
//! cargo run --release -p tandem-benches --bin matmul_peak [-- --quick] [--vit] [--dtype bf16]
//! ```
//!
//! `--quick` shortens each case's time budget (0.6 s → 0.15 s); `--vit` runs only the large
//! ViT-B/16 matmuls and skips attention. `RAYON_NUM_THREADS=1` measures one core.
//!
//! `--dtype bf16` measures bf16 × bf16 `linear` instead, against the measured peak of each bf16
//! kernel this CPU has (AMX tiles, AVX512-BF16; `gemm_bf16::probe_flops` on every core at
//! once), with each kernel called directly and the f32 fallback (both operands widened, then
//! `gemm`) as columns of the same run.
//!
//! Each case runs a few warm-up calls, then as many timed calls as fit in its time budget (at
//! least 5), and reports the best call (with the median beside it). The best is what the
//! "% of peak" uses: on a machine shared with other work (builds, other tenants) the median
//! measures the sharing as much as the kernel; the printed load average says how busy it was. The "raw gemm" columns call the `gemm` crate directly on
//! preallocated buffers: Tandem's CPU matmul is that library plus operand checks, the output
//! allocation and the epilogue, so the gap between the columns is Tandem's own overhead.

use std::time::Duration;
use tandem_benches::data::{random, Rng};
use tandem_benches::kernels::attention::{inputs, spec, unfused};
use tandem_benches::machine::{peak_flops, CpuInfo};
use tandem_benches::probe;
use tandem_benches::shapes::{MatmulShape, ATTENTIONS, MATMULS, VIT_LARGE};
use tandem_benches::timing::{time_runs, Timings};
use tandem_tensor::cpu::ops::gemm_bf16::{self, Bf16Gemm};
use tandem_tensor::{attention, Backend, CpuBackend, DType, MatmulSpec, MatrixRef, Result, Tensor};

/// The denominator of every "% of peak", and how it was obtained.
struct Peak {
    flops: f64,
    notes: Vec<String>,
}

fn machine_peak() -> Peak {
    let mut notes = Vec::new();
    let info = CpuInfo::read();
    let fallback_cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cores = info
        .as_ref()
        .map_or(fallback_cores, |i| i.physical_cores.max(1));
    match &info {
        Some(i) => notes.push(format!(
            "cpu: {} | {} physical cores, {} logical CPUs (/proc/cpuinfo) | avx512f={} avx2={} fma={}",
            i.model, i.physical_cores, i.logical_cpus, i.avx512f, i.avx2, i.fma
        )),
        None => notes.push(format!("no /proc/cpuinfo: assuming {cores} cores")),
    }
    let nominal_hz = info.as_ref().and_then(|i| i.mhz).map(|mhz| mhz * 1e6);
    let probe = probe::measure(cores);
    let lanes = probe.map_or_else(|| info.as_ref().map_or(8, CpuInfo::f32_lanes), |p| p.lanes);
    let fma_units = match probe {
        Some(p) => {
            let units = p.fma_per_cycle().round().max(1.0) as usize;
            notes.push(format!(
                "probe (all {cores} cores at once): integer clock {:.3} GHz (dependent add chain, 1 add/cycle); \
                 {:.2} G {}-bit FMA/s per core = {:.2} FMA/cycle -> {units} FMA unit(s) per core",
                p.clock_hz / 1e9,
                p.fma_per_sec / 1e9,
                lanes * 32,
                p.fma_per_cycle(),
            ));
            units
        }
        None => {
            notes.push(
                "no FMA probe on this CPU/architecture: ASSUMING 2 FMA units per core".into(),
            );
            2
        }
    };
    let clocks: Vec<f64> = nominal_hz
        .into_iter()
        .chain(probe.map(|p| p.clock_hz))
        .collect();
    // The higher of the nominal and the measured clock, so "% of peak" is never flattered.
    let hz = clocks.iter().copied().fold(0.0, f64::max);
    let hz = if hz > 0.0 { hz } else { 2.0e9 };
    if clocks.is_empty() {
        notes.push("no clock known: ASSUMING 2.0 GHz".into());
    }
    let flops = peak_flops(cores, fma_units, lanes, hz);
    notes.push(format!(
        "peak = {cores} cores x {fma_units} FMA units x {lanes} f32 lanes x 2 flop/FMA x {:.3} GHz = {:.1} GFLOP/s \
         (clock = max of /proc/cpuinfo 'cpu MHz' {} and the measured one)",
        hz / 1e9,
        flops / 1e9,
        nominal_hz.map_or("n/a".to_string(), |h| format!("{:.0} MHz", h / 1e6)),
    ));
    if let Some(p) = probe {
        let sustained = p.fma_per_sec * (cores * lanes * 2) as f64;
        notes.push(format!(
            "sustained FMA roof measured by the probe: {:.1} GFLOP/s ({:.0}% of peak; the best any GEMM could do here)",
            sustained / 1e9,
            100.0 * sustained / flops
        ));
    }
    Peak { flops, notes }
}

/// Calls to time so a case takes about `budget`: at least 5, at most 200.
fn runs_for(one: Duration, budget: Duration) -> usize {
    let one = one.as_secs_f64().max(1e-7);
    ((budget.as_secs_f64() / one) as usize).clamp(5, 200)
}

/// `a` through a `tandem_nn::Linear` built from `w` (`[out, in]`) and `bias`: the layer as
/// models run it (weights packed at load where the backend packs them).
fn time_layer(
    budget: Duration,
    a: &Tensor<CpuBackend>,
    w: &Tensor<CpuBackend>,
    bias: &Tensor<CpuBackend>,
) -> Result<Timings> {
    let layer = tandem_nn::Linear::new(w.clone(), Some(bias.clone()));
    time_it(budget, || {
        layer
            .forward(a)
            .map_err(|e| tandem_tensor::Error::backend("cpu", e))
    })
}

fn time_it<T>(budget: Duration, mut op: impl FnMut() -> Result<T>) -> Result<Timings> {
    let first = time_runs(&CpuBackend, 1, 1, &mut op)?;
    time_runs(&CpuBackend, 2, runs_for(first.median, budget), &mut op)
}

/// The `gemm` crate alone on preallocated row-major buffers (`rhs_transposed`: `B` stored as
/// `[n, k]`, as an `nn.Linear` weight is).
fn raw_gemm(s: &MatmulShape, rhs_transposed: bool, budget: Duration) -> Result<Timings> {
    let mut rng = Rng::new(5);
    let (a, b) = (rng.vec(s.m * s.k), rng.vec(s.k * s.n));
    let mut dst = vec![0f32; s.m * s.n];
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // B's (column, row) strides: row-major [k, n] or the transpose of row-major [n, k].
    let (b_cs, b_rs) = if rhs_transposed {
        (s.k as isize, 1)
    } else {
        (1, s.n as isize)
    };
    time_it(budget, || {
        // SAFETY: a is m×k, b is k×n (either layout), dst is m×n, all with the strides given.
        unsafe {
            gemm::gemm(
                s.m,
                s.n,
                s.k,
                dst.as_mut_ptr(),
                1,
                s.n as isize,
                false,
                a.as_ptr(),
                1,
                s.k as isize,
                b.as_ptr(),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
        Ok(())
    })
}

/// `best GFLOP/s (% of peak) median GFLOP/s`.
fn cell(flops: u64, t: Timings, peak: f64) -> String {
    let rate = |d: Duration| flops as f64 / d.as_secs_f64();
    format!(
        "{:>6.1} ({:>3.0}%) {:>5.1}",
        rate(t.best) / 1e9,
        100.0 * rate(t.best) / peak,
        rate(t.median) / 1e9
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "n/a".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn matmul_table(shapes: &[MatmulShape], peak: f64, budget: Duration) -> Result<()> {
    let cpu = CpuBackend;
    println!(
        "\n## matmul on `{}`: best GFLOP/s (% of peak) median GFLOP/s\n",
        cpu.name()
    );
    println!(
        "| {:<14} | {:<47} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} |",
        "m x k x n", "role", "matmul", "linear+bias", "nn::Linear", "raw gemm", "raw gemm Bt"
    );
    println!(
        "|{:-<16}|{:-<49}|{:->22}|{:->22}|{:->22}|{:->22}|{:->22}|",
        "", "", "", "", "", "", ""
    );
    for s in shapes {
        let a = random(&cpu, &[s.m, s.k], 1.0, 1)?;
        let b = random(&cpu, &[s.k, s.n], 1.0, 2)?;
        let w = random(&cpu, &[s.n, s.k], 0.05, 3)?;
        let bias = random(&cpu, &[s.n], 0.1, 4)?;
        let t_mm = time_it(budget, || a.matmul(&b))?;
        let t_lin = time_it(budget, || a.linear(&w, Some(&bias), None))?;
        let t_layer = time_layer(budget, &a, &w, &bias)?;
        let t_raw = raw_gemm(s, false, budget)?;
        let t_raw_t = raw_gemm(s, true, budget)?;
        let f = s.flops();
        println!(
            "| {:<14} | {:<47} | {} | {} | {} | {} | {} |",
            s.id(),
            s.role,
            cell(f, t_mm, peak),
            cell(f, t_lin, peak),
            cell(f, t_layer, peak),
            cell(f, t_raw, peak),
            cell(f, t_raw_t, peak)
        );
    }
    Ok(())
}

fn attention_table(peak: f64, budget: Duration) -> Result<()> {
    let cpu = CpuBackend;
    println!("\n## attention: fused kernel vs matmul + softmax + matmul (best ms; GFLOP/s of the two products)\n");
    println!(
        "| {:<34} | {:>9} | {:>20} | {:>10} | {:>20} | {:>7} |",
        "shape", "fused ms", "fused", "unfused ms", "unfused", "speedup"
    );
    println!(
        "|{:-<36}|{:->11}|{:->22}|{:->12}|{:->22}|{:->9}|",
        "", "", "", "", "", ""
    );
    for s in ATTENTIONS {
        let [q, k, v] = inputs(&cpu, s)?;
        let sp = spec(s);
        let t_fused = time_it(budget, || attention(&q, &k, &v, None, sp))?;
        let t_unfused = time_it(budget, || unfused(&q, &k, &v, sp))?;
        println!(
            "| {:<34} | {:>9.3} | {} | {:>10.3} | {} | {:>6.2}x |",
            s.id(),
            t_fused.best.as_secs_f64() * 1e3,
            cell(s.flops(), t_fused, peak),
            t_unfused.best.as_secs_f64() * 1e3,
            cell(s.flops(), t_unfused, peak),
            t_unfused.best.as_secs_f64() / t_fused.best.as_secs_f64()
        );
    }
    Ok(())
}

/// Each available bf16 kernel's roof: [`gemm_bf16::probe_flops`] on `cores` threads at once,
/// the slowest thread's rate times the thread count.
fn bf16_peaks(cores: usize) -> Vec<(Bf16Gemm, f64)> {
    gemm_bf16::available()
        .into_iter()
        .map(|kernel| {
            let rates: Vec<f64> = (0..cores.max(1))
                .map(|_| {
                    std::thread::spawn(move || {
                        gemm_bf16::probe_flops(kernel, Duration::from_millis(300)).unwrap_or(0.0)
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .collect();
            let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
            (kernel, slowest * rates.len() as f64)
        })
        .collect()
}

/// `x [m, k] · W [n, k]ᵀ` as a [`MatmulSpec`] over contiguous operands.
fn linear_spec(s: &MatmulShape) -> MatmulSpec {
    MatmulSpec {
        batch: 1,
        m: s.m,
        n: s.n,
        k: s.k,
        lhs: MatrixRef {
            offset: 0,
            batch_stride: 0,
            row_stride: s.k,
            col_stride: 1,
        },
        rhs: MatrixRef {
            offset: 0,
            batch_stride: 0,
            row_stride: 1,
            col_stride: s.k,
        },
    }
}

fn bf16_table(shapes: &[MatmulShape], budget: Duration) -> Result<()> {
    let cpu = CpuBackend;
    let cores = CpuInfo::read().map_or(1, |i| i.physical_cores.max(1));
    let peaks = bf16_peaks(cores);
    if peaks.is_empty() {
        println!("\n- no bf16 matrix engine on this CPU (neither AMX-BF16 nor AVX512-BF16): bf16 matmuls widen to f32");
    }
    for (kernel, peak) in &peaks {
        println!(
            "- measured bf16 roof of `{}` on {cores} cores: {:.1} GFLOP/s (products on registers, no loads)",
            kernel.name(),
            peak / 1e9
        );
    }
    let selected = gemm_bf16::selected();
    println!(
        "- kernel bf16 matmuls use here: {} (TANDEM_CPU_BF16_GEMM caps it)",
        selected.map_or("none: widen to f32 + gemm", Bf16Gemm::name)
    );
    // "% of peak" of each column is against the roof of the kernel it ran on; the tensor
    // `linear` and the f32 fallback against the selected kernel's (what bf16 could reach here).
    let roof = |k: Option<Bf16Gemm>| {
        peaks
            .iter()
            .find(|(p, _)| Some(*p) == k)
            .map_or(f64::NAN, |(_, r)| *r)
    };
    // `nn::Linear`: the layer as models run it (weights packed at load where the backend packs
    // bf16, `PackedRhs`; else the same as `linear+bias`).
    print!("\n## bf16 linear: best GFLOP/s (% of the kernel's roof) median GFLOP/s\n\n| {:<14} | {:<47} | {:>20} | {:>20} |", "m x k x n", "role", "linear+bias (bf16)", "nn::Linear (bf16)");
    for (kernel, _) in &peaks {
        print!(" {:>20} |", format!("{} kernel", kernel.name()));
    }
    println!(" {:>20} |", "widen + f32 gemm");
    for s in shapes {
        let a = random(&cpu, &[s.m, s.k], 1.0, 1)?.to_dtype(DType::BF16)?;
        let w = random(&cpu, &[s.n, s.k], 0.05, 3)?.to_dtype(DType::BF16)?;
        let bias = random(&cpu, &[s.n], 0.1, 4)?.to_dtype(DType::BF16)?;
        let f = s.flops();
        let t_lin = time_it(budget, || a.linear(&w, Some(&bias), None))?;
        let t_layer = time_layer(budget, &a, &w, &bias)?;
        print!(
            "| {:<14} | {:<47} | {} | {} |",
            s.id(),
            s.role,
            cell(f, t_lin, roof(selected)),
            cell(f, t_layer, roof(selected))
        );
        let mut rng = Rng::new(9);
        let av: Vec<_> = rng
            .vec(s.m * s.k)
            .into_iter()
            .map(tandem_tensor::bf16::from_f32)
            .collect();
        let wv: Vec<_> = rng
            .vec(s.n * s.k)
            .into_iter()
            .map(tandem_tensor::bf16::from_f32)
            .collect();
        let mut out = vec![0f32; s.m * s.n];
        let spec = linear_spec(s);
        for (kernel, peak) in &peaks {
            let t = time_it(budget, || {
                gemm_bf16::matmul(*kernel, &spec, &av, &wv, &mut out, false);
                Ok(())
            })?;
            print!(" {} |", cell(f, t, *peak));
        }
        let bias32 = bias.to_dtype(DType::F32)?;
        let t_wide = time_it(budget, || {
            a.to_dtype(DType::F32)?
                .linear(&w.to_dtype(DType::F32)?, Some(&bias32), None)
        })?;
        println!(" {} |", cell(f, t_wide, roof(selected)));
    }
    Ok(())
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let vit_only = args.iter().any(|a| a == "--vit");
    let budget = Duration::from_millis(if quick { 150 } else { 600 });
    let bf16 = args.windows(2).any(|w| w[0] == "--dtype" && w[1] == "bf16");
    if bf16 {
        println!(
            "## bf16 matrix engines\n\n- load average before: {}",
            load_average()
        );
        if let Some(i) = CpuInfo::read() {
            println!("- cpu: {} | {} physical cores", i.model, i.physical_cores);
        }
        bf16_table(if vit_only { VIT_LARGE } else { MATMULS }, budget)?;
        println!("\n- load average after: {}", load_average());
        return Ok(());
    }
    println!(
        "## machine peak (f32)\n\n- load average before: {}",
        load_average()
    );
    let peak = machine_peak();
    for note in &peak.notes {
        println!("- {note}");
    }
    println!(
        "- rayon threads: {} (set RAYON_NUM_THREADS to change); timing: best and median of >= 5 calls after 2 warm-ups",
        rayon::current_num_threads()
    );
    matmul_table(
        if vit_only { VIT_LARGE } else { MATMULS },
        peak.flops,
        budget,
    )?;
    if !vit_only {
        attention_table(peak.flops, budget)?;
    }
    println!("\n- load average after: {}", load_average());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("matmul_peak: {e}");
        std::process::exit(1);
    }
}
