//! Generic criterion benchmarks for Tandem's kernels, written once against [`Backend`] so every
//! backend runs the same cases under the same names.
//!
//! Each op has a module in [`kernels`] with a `bench::<B>(c, backend, prefix)` function that
//! registers one benchmark per real-model shape, named `<prefix>/<op>/<shape>`, e.g.
//! `cpu/matmul/577x768x3072`. The bench target `benches/kernels.rs` instantiates them for the
//! CPU backend; a GPU backend crate adds its prefix with a few lines:
//!
//! ```ignore
//! fn wgpu(c: &mut Criterion) {
//!     let dev = WgpuBackend::new().unwrap();
//!     tandem_benches::kernels::bench_all(c, &dev, "wgpu");
//! }
//! ```
//!
//! Reading the reports: compute-bound ops set `Throughput::Elements(flops)`, so criterion's
//! **"elements/s" means FLOP/s** (`Gelem/s` = GFLOP/s). Memory-bound ops set
//! `Throughput::Bytes(bytes moved)`, so they read in GB/s. Each op's docs say what is counted.
//!
//! Timing uses `iter_custom` with [`Backend::synchronize`] before starting the clock and after
//! the last iteration ([`timing::bench_op`]), so backends that only enqueue work are timed for
//! the work itself, not for the enqueueing (on the CPU `synchronize` is a no-op).
//!
//! `src/bin/matmul_peak.rs` is a criterion-free companion that prints matmul GFLOP/s next to
//! this machine's theoretical peak.

/// The workspace root (benchmarks write scratch files under its `target/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed photos (`examples/images/*.png|jpg`), sorted by name.
///
/// # Errors
/// When the folder cannot be read.
pub fn committed_photos() -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<std::path::PathBuf> =
        std::fs::read_dir(workspace_root().join("examples/images"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "jpg")))
            .collect();
    paths.sort();
    Ok(paths)
}

pub mod data;
pub mod kernels;
pub mod machine;
pub mod probe;
pub mod shapes;
pub mod timing;

pub use tandem_tensor::Backend;
