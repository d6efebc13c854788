//! `cargo xtask cuda-sim`: builds the CUDA simulator (`crates/tandem-cuda/sim`) into
//! `target/cuda-sim/libcuda.so.1`, a stand-in for the CUDA driver library that runs Tandem's
//! kernels on the host, and prints that folder. With it on `LD_LIBRARY_PATH`, the CUDA backend's
//! device tests (`cargo test -p tandem-cuda -- --ignored`, the CLIP/BLIP CUDA parity tests) run
//! on a machine without a GPU; CI does exactly that.
//!
//! The build, with the system C++ compiler (`c++`, g++ 12 or clang 15 or newer):
//! 1. each `kernels/cuda/<op>.cu` is preprocessed once with the simulator's marker in place of
//!    `__global__`, which yields its entry-point names even where a macro makes them;
//! 2. a translation unit per op includes `device.h`, then `common.cuh` and the op inside a
//!    namespace of its own (ops may reuse helper names), then registers each entry point;
//! 3. every driver symbol cudarc resolves when it opens the library (read from cudarc's own
//!    bindings, so a cudarc upgrade cannot leave one out) gets a weak stub that reports it is not
//!    simulated; `driver.cpp`'s real definitions override the stubs at link time;
//! 4. `sim/selftest.cpp` runs: each of the simulator's checks must fire on a kernel written
//!    wrong on purpose and stay quiet on a right one.

use crate::util::project_root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the kernel files are preprocessed with to find entry points (see `device.h`).
const MARKER: &str = "TANDEM_SIM_KERNEL";

pub fn run(_args: &[String]) -> Result<()> {
    println!("{}", build()?.display());
    Ok(())
}

/// Builds the simulator library and returns the folder that holds it.
pub fn build() -> Result<PathBuf> {
    let root = project_root();
    let sim = root.join("crates/tandem-cuda/sim");
    let kernels = root.join("kernels/cuda");
    let out = root.join("target/cuda-sim");
    let work = out.join("build");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let mut units = vec![sim.join("simulator.cpp"), sim.join("driver.cpp")];
    let mut ops: Vec<PathBuf> = std::fs::read_dir(&kernels)
        .with_context(|| format!("reading {}", kernels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    ops.sort();
    for op in &ops {
        let name = op
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entries = entry_points(&sim, &kernels, op, &work.join(format!("{name}.scan.cpp")))?;
        if entries.is_empty() {
            bail!("{} defines no entry point", op.display());
        }
        let unit = work.join(format!("{name}.cpp"));
        write_if_changed(&unit, &op_unit(&name, &entries))?;
        units.push(unit);
    }
    let stubs = work.join("stubs.cpp");
    write_if_changed(&stubs, &stub_unit(&driver_symbols()?))?;
    units.push(stubs);

    // One object per unit, two compilers at a time, then one link (about 20 s on two cores;
    // always from scratch, so a changed flag or header never leaves a stale object).
    let mut objects = Vec::new();
    for chunk in units.chunks(2) {
        let mut children = Vec::new();
        for unit in chunk {
            let object = work.join(format!(
                "{}.o",
                unit.file_stem().unwrap_or_default().to_string_lossy()
            ));
            let mut cmd = Command::new("c++");
            // Device code reinterprets shared memory freely (`*(const u32*)&tile[i]`), as CUDA
            // allows. Only the driver API is exported (driver.cpp and the stubs say so): the
            // kernels and the scheduler stay inside the library.
            cmd.args([
                "-std=c++17",
                "-O2",
                "-fPIC",
                "-fvisibility=hidden",
                "-fno-strict-aliasing",
                "-Wall",
                "-Wno-unknown-pragmas",
            ])
            .args(["-Wno-unused-function", "-Wno-unused-variable"])
            .arg("-I")
            .arg(&sim)
            .arg("-I")
            .arg(&kernels)
            .arg("-c")
            .arg(unit)
            .arg("-o")
            .arg(&object);
            children.push((
                unit.clone(),
                cmd.spawn()
                    .context("could not start `c++` (the simulator needs a C++17 compiler)")?,
            ));
            objects.push(object);
        }
        for (unit, mut child) in children {
            if !child.wait()?.success() {
                bail!("compiling {} failed", unit.display());
            }
        }
    }
    let library = out.join("libcuda.so.1");
    let status = Command::new("c++")
        .args(["-shared", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(&library)
        .args(&objects)
        .status()
        .context("could not start `c++`")?;
    if !status.success() {
        bail!("linking {} failed", library.display());
    }
    // cudarc also tries the unversioned name first.
    let plain = out.join("libcuda.so");
    let _ = std::fs::remove_file(&plain);
    std::fs::copy(&library, &plain).with_context(|| format!("writing {}", plain.display()))?;
    self_test(&sim, &work)?;
    Ok(out)
}

/// Builds and runs `sim/selftest.cpp`: each of the simulator's checks shown to fire on a kernel
/// written wrong on purpose, and to stay quiet on a right one.
fn self_test(sim: &Path, work: &Path) -> Result<()> {
    let exe = work.join("selftest");
    let status = Command::new("c++")
        .args([
            "-std=c++17",
            "-O1",
            "-fno-strict-aliasing",
            "-Wall",
            "-Wno-unknown-pragmas",
        ])
        .arg("-I")
        .arg(sim)
        .arg(sim.join("selftest.cpp"))
        .arg(sim.join("simulator.cpp"))
        .arg("-o")
        .arg(&exe)
        .status()
        .context("could not start `c++`")?;
    if !status.success() {
        bail!("compiling the simulator's self-test failed");
    }
    let status = Command::new(&exe)
        .status()
        .with_context(|| format!("could not start {}", exe.display()))?;
    if !status.success() {
        bail!("the CUDA simulator's self-test failed (see its lines above)");
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The `extern "C"` kernels `op` defines, in order, macros expanded (`scan`: where to write the
/// little file that includes it for the preprocessor).
fn entry_points(sim: &Path, kernels: &Path, op: &Path, scan: &Path) -> Result<Vec<String>> {
    let source = format!(
        "#include \"device.h\"\n#include \"common.cuh\"\n#include \"{}\"\n",
        op.display()
    );
    std::fs::write(scan, source).with_context(|| format!("writing {}", scan.display()))?;
    let output = Command::new("c++")
        .args(["-std=c++17", "-E", "-P", "-DTANDEM_SIM_SCAN"])
        .arg("-I")
        .arg(sim)
        .arg("-I")
        .arg(kernels)
        .arg(scan)
        .output()
        .context("could not start `c++` (the simulator needs a C++17 compiler)")?;
    if !output.status.success() {
        bail!(
            "preprocessing {} failed:\n{}",
            op.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(marked_names(&String::from_utf8_lossy(&output.stdout)))
}

/// Names following `<MARKER> void` in preprocessed text.
fn marked_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in text.match_indices(MARKER) {
        let rest = text[i + MARKER.len()..].trim_start();
        let Some(rest) = rest.strip_prefix("void") else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn op_unit(op: &str, entries: &[String]) -> String {
    let mut s = format!(
        "// Generated by `cargo xtask cuda-sim` from kernels/cuda/{op}.cu; do not edit.\n\
         #include \"simulator.h\"\n\
         namespace tandem_sim_op_{op} {{\n\
         #include \"common.cuh\"\n\
         #include \"{op}.cu\"\n\
         }}\n"
    );
    for (i, e) in entries.iter().enumerate() {
        s.push_str(&format!(
            "static const bool registered_{i} = tandem_sim::register_kernel(\"{e}\", \"{op}.cu\", \
             [](void** p) {{ tandem_sim::invoke(&tandem_sim_op_{op}::{e}, p); }});\n"
        ));
    }
    s
}

fn stub_unit(symbols: &[String]) -> String {
    let mut s = String::from(
        "// Generated by `cargo xtask cuda-sim` from cudarc's driver bindings; do not edit.\n\
         // Weak: driver.cpp's definitions win at link time.\n\
         extern \"C\" int tandem_sim_unsupported(const char* name);\n",
    );
    for sym in symbols {
        s.push_str(&format!(
            "extern \"C\" __attribute__((weak, visibility(\"default\"))) int {sym}() {{ \
             return tandem_sim_unsupported(\"{sym}\"); }}\n"
        ));
    }
    s
}

/// Every symbol cudarc's dynamically loaded driver bindings resolve.
fn driver_symbols() -> Result<Vec<String>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(project_root())
        .output()
        .context("could not run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let manifest = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "cudarc"))
        .and_then(|p| p["manifest_path"].as_str())
        .context("cudarc is not in the dependency graph")?;
    let bindings = Path::new(manifest)
        .parent()
        .context("cudarc's manifest has no folder")?
        .join("src/driver/sys/mod.rs");
    let text = std::fs::read_to_string(&bindings)
        .with_context(|| format!("reading {}", bindings.display()))?;
    let mut symbols: Vec<String> = text
        .match_indices(".get(b\"")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let name = &rest[..rest.find("\\0")?];
            name.starts_with("cu").then(|| name.to_string())
        })
        .collect();
    symbols.sort();
    symbols.dedup();
    if symbols.len() < 100 {
        bail!(
            "found only {} driver symbols in {}; has cudarc's layout changed?",
            symbols.len(),
            bindings.display()
        );
    }
    Ok(symbols)
}
