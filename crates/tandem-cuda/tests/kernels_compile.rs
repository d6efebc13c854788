//! Every `kernels/cuda/*.cu` compiles with NVRTC for sm_80 (A100) and sm_90 (H100/H200), and no
//! kernel spills registers unless its file accepts it with `// spill-ok: <kernel>: <reason>`.
//! Needs only the NVRTC library, not a GPU: CI installs it from PyPI (`nvidia-cuda-nvrtc-cu12`,
//! see xtask/src/ci.rs) and points `TANDEM_CUDA_NVRTC` at it.
//!
//! Without NVRTC these tests fail naming the fix (a test that cannot run never passes as `ok`);
//! `cargo test -- --skip kernels_compile` leaves them out on a machine without it.

use tandem_cuda::runtime::compile::{check_spills, compile_uncached, full_source, Spill};
use tandem_cuda::runtime::library::{require_nvrtc, NVRTC_ENV};

#[track_caller]
fn require_nvrtc_or_fail(test: &str) {
    if let Err(e) = require_nvrtc() {
        panic!(
            "{test}: {e}\nInstall it with `python3 -m pip install nvidia-cuda-nvrtc-cu12==12.9.86` and set \
             {NVRTC_ENV}=<site-packages>/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 (`cargo xtask ci` does both), \
             or leave these tests out with `--skip kernels_compile`."
        );
    }
}

fn compile_all(arch: &str) {
    require_nvrtc_or_fail(&format!("kernels compile for {arch}"));
    let mut failures = Vec::new();
    let mut report: Vec<Spill> = Vec::new();
    for (op, source) in tandem_kernels::cuda::ALL {
        match compile_uncached(op, &full_source(op, source), arch) {
            Err(e) => failures.push(e.to_string()),
            Ok(compiled) => {
                assert!(
                    !compiled.cubin.is_empty(),
                    "{op}.cu: empty CUBIN for {arch}"
                );
                match check_spills(op, source, arch, &compiled.log) {
                    Ok(spills) => {
                        assert!(
                            !spills.is_empty(),
                            "{op}.cu: ptxas reported no kernels for {arch}:\n{}",
                            compiled.log
                        );
                        report.extend(spills);
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} kernel file(s) failed on {arch}:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{arch}: {} entry points compiled, none spilling",
        report.len()
    );
}

#[test]
fn every_kernel_compiles_for_sm_80_without_spills() {
    compile_all("sm_80");
}

#[test]
fn every_kernel_compiles_for_sm_90_without_spills() {
    compile_all("sm_90");
}

/// The check itself can fail: a kernel with a syntax error is reported with NVRTC's log.
#[test]
fn a_broken_kernel_is_reported_with_its_log() {
    require_nvrtc_or_fail("broken kernel");
    let err = compile_uncached(
        "broken",
        &full_source(
            "broken",
            "extern \"C\" __global__ void broken_f32() { undeclared = 1; }",
        ),
        "sm_80",
    )
    .expect_err("must not compile");
    let text = err.to_string();
    assert!(
        text.contains("broken.cu") && text.contains("undeclared"),
        "{text}"
    );
}

/// Every dtype's entry point exists where the host code expects it (`<op>_<dtype>`).
#[test]
fn entry_points_follow_the_naming_rule() {
    require_nvrtc_or_fail("entry point names");
    let floats = ["f32", "f16", "bf16"];
    let all = ["f32", "f16", "bf16", "u32", "i64"];
    let expect: Vec<(&str, Vec<String>)> = vec![
        (
            "unary",
            floats.iter().map(|d| format!("unary_{d}")).collect(),
        ),
        (
            "binary",
            floats.iter().map(|d| format!("binary_{d}")).collect(),
        ),
        (
            "softmax",
            floats.iter().map(|d| format!("softmax_{d}")).collect(),
        ),
        (
            "layer_norm",
            floats.iter().map(|d| format!("layer_norm_{d}")).collect(),
        ),
        (
            "add_layer_norm",
            floats
                .iter()
                .map(|d| format!("add_layer_norm_{d}"))
                .collect(),
        ),
        (
            "matmul",
            floats
                .iter()
                .map(|d| format!("matmul_{d}"))
                .chain(["bf16", "f16"].map(|d| format!("matmul_{d}_128x128")))
                .collect(),
        ),
        ("topk", floats.iter().map(|d| format!("topk_{d}")).collect()),
        ("copy", all.iter().map(|d| format!("copy_{d}")).collect()),
        ("fill", all.iter().map(|d| format!("fill_{d}")).collect()),
        (
            "index_select",
            all.iter().map(|d| format!("index_select_{d}")).collect(),
        ),
        (
            "cast",
            all.iter()
                .flat_map(|a| all.iter().map(move |b| format!("cast_{a}_{b}")))
                .collect(),
        ),
        (
            "attention",
            floats
                .iter()
                .flat_map(|d| [format!("attention_{d}_d64"), format!("attention_{d}_d128")])
                .chain(["bf16", "f16"].into_iter().flat_map(|d| {
                    [
                        format!("attention_tc_{d}_d64"),
                        format!("attention_tc_{d}_d128"),
                    ]
                }))
                .collect(),
        ),
        (
            "reduce",
            floats
                .iter()
                .flat_map(|d| [format!("reduce_{d}"), format!("reduce_arg_{d}")])
                .collect(),
        ),
    ];
    for (op, entries) in expect {
        let source = tandem_kernels::cuda::ALL
            .iter()
            .find(|(n, _)| *n == op)
            .map(|(_, s)| *s)
            .expect("listed op");
        let compiled = compile_uncached(op, &full_source(op, source), "sm_80").expect("compiles");
        for e in entries {
            assert!(
                compiled
                    .log
                    .contains(&format!("Function properties for {e}\n")),
                "{op}.cu has no entry point {e}"
            );
        }
    }
}
