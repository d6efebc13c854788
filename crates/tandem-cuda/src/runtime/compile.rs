//! NVRTC: each `kernels/cuda/<op>.cu` compiled once per (op, GPU architecture) straight to a
//! CUBIN, with an on-disk cache, and the ptxas report checked for register spills.
//!
//! This module needs only the NVRTC library, not a GPU: CI compiles every kernel for sm_80 and
//! sm_90 with it (`tests/kernels_compile.rs`), so a kernel that does not compile or that spills
//! fails the build on machines without a device.
//!
//! Cache: `$TANDEM_CUDA_CACHE`, else `<user cache dir>/tandem/cuda`, one `<sha256>.cubin` per
//! (NVRTC version, arch, options, full source); a changed kernel or compiler is a new key, so the
//! cache never needs invalidating. Failing to read or write it only costs a compile.

use super::library::require_nvrtc;
use crate::error::{CudaError, Result};
use cudarc::nvrtc::{result as nvrtc, sys};
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::path::PathBuf;

/// Environment variable overriding the kernel cache folder.
pub const CACHE_ENV: &str = "TANDEM_CUDA_CACHE";

/// A compiled kernel file: the CUBIN to load, and the compiler's report (ptxas `-v`).
#[derive(Clone, Debug)]
pub struct Compiled {
    pub cubin: Vec<u8>,
    pub log: String,
    /// Served from the on-disk cache (no NVRTC run).
    pub cached: bool,
}

/// Register-spill figures ptxas reported for one kernel entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spill {
    pub kernel: String,
    pub stack_bytes: u64,
    pub store_bytes: u64,
    pub load_bytes: u64,
}

/// The full source NVRTC sees for one op: the shared header, then the op's file (with a `#line`
/// so compiler messages point into `<op>.cu`).
pub fn full_source(op: &str, source: &str) -> String {
    format!(
        "{}\n#line 1 \"{op}.cu\"\n{source}",
        tandem_kernels::cuda::COMMON
    )
}

/// The options every kernel is compiled with for `arch` (e.g. `sm_90`).
pub fn options(arch: &str) -> Vec<String> {
    vec![
        format!("--gpu-architecture={arch}"),
        "-std=c++17".into(),
        // ptxas reports registers and spills per kernel into the program log.
        "--ptxas-options=-v".into(),
    ]
}

/// The NVRTC version as (major, minor).
pub fn nvrtc_version() -> Result<(i32, i32)> {
    require_nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); the pointers are valid for the call.
    let r = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    r.result().map_err(|e| CudaError::Nvrtc {
        op: String::new(),
        during: "version query",
        message: format!("{e:?}"),
    })?;
    Ok((major, minor))
}

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(p) => Some(PathBuf::from(p)),
        None => dirs::cache_dir().map(|d| d.join("tandem").join("cuda")),
    }
}

fn cache_key(source: &str, arch: &str, version: (i32, i32)) -> String {
    let mut h = Sha256::new();
    h.update(format!("nvrtc {}.{}\n", version.0, version.1));
    for o in options(arch) {
        h.update(o.as_bytes());
        h.update(b"\n");
    }
    h.update(source.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles `<op>.cu` (`source` as in `tandem_kernels::cuda`) for `arch`, using the disk cache
/// unless `use_cache` is false. Errors carry NVRTC's log.
pub fn compile(op: &str, source: &str, arch: &str, use_cache: bool) -> Result<Compiled> {
    let version = nvrtc_version()?;
    let full = full_source(op, source);
    let path = cache_dir().map(|d| d.join(format!("{}.cubin", cache_key(&full, arch, version))));
    if use_cache {
        if let Some(cubin) = path.as_ref().and_then(|p| std::fs::read(p).ok()) {
            return Ok(Compiled {
                cubin,
                log: String::new(),
                cached: true,
            });
        }
    }
    let compiled = compile_uncached(op, &full, arch)?;
    if let Some(path) = path {
        // Best effort: write to a temporary name and rename, so a concurrent reader never sees
        // half a file.
        if let Some(dir) = path.parent() {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let _ = std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&tmp, &compiled.cubin))
                .and_then(|_| std::fs::rename(&tmp, &path));
        }
    }
    Ok(compiled)
}

fn nvrtc_err<'a>(
    op: &'a str,
    during: &'static str,
) -> impl FnOnce(nvrtc::NvrtcError) -> CudaError + 'a {
    move |e| CudaError::Nvrtc {
        op: op.to_string(),
        during,
        message: format!("{e:?}"),
    }
}

fn log_of(prog: sys::nvrtcProgram) -> String {
    // SAFETY: `prog` is a live program (the callers destroy it only afterwards).
    match unsafe { nvrtc::get_program_log(prog) } {
        Ok(raw) => {
            let bytes: Vec<u8> = raw
                .iter()
                .map(|&c| c as u8)
                .take_while(|&b| b != 0)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(e) => format!("(no log: {e:?})"),
    }
}

/// One NVRTC run: source → CUBIN for `arch`, plus the log.
pub fn compile_uncached(op: &str, full_source: &str, arch: &str) -> Result<Compiled> {
    require_nvrtc()?;
    let src = CString::new(full_source).map_err(|_| CudaError::Unsupported {
        op: "nvrtc",
        message: format!("{op}.cu contains a NUL byte"),
    })?;
    let name = CString::new(format!("{op}.cu")).map_err(|_| CudaError::Unsupported {
        op: "nvrtc",
        message: "bad op name".into(),
    })?;
    let prog =
        nvrtc::create_program(&src, Some(&name)).map_err(nvrtc_err(op, "program creation"))?;
    let opts = options(arch);
    // SAFETY: `prog` was just created and is destroyed once below.
    let compiled = unsafe { nvrtc::compile_program(prog, &opts) };
    let log = log_of(prog);
    let result = match compiled {
        Err(_) => Err(CudaError::Compile {
            op: op.to_string(),
            arch: arch.to_string(),
            log: log.clone(),
        }),
        Ok(()) => cubin(prog)
            .map_err(nvrtc_err(op, "CUBIN extraction"))
            .map(|cubin| Compiled {
                cubin,
                log,
                cached: false,
            }),
    };
    // SAFETY: created above, not destroyed before.
    let _ = unsafe { nvrtc::destroy_program(prog) };
    result
}

fn cubin(prog: sys::nvrtcProgram) -> std::result::Result<Vec<u8>, nvrtc::NvrtcError> {
    let mut size = 0usize;
    // SAFETY: `prog` compiled successfully; the buffer has the size NVRTC reported.
    unsafe {
        sys::nvrtcGetCUBINSize(prog, &mut size).result()?;
        let mut buf = vec![0u8; size];
        sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut std::ffi::c_char).result()?;
        Ok(buf)
    }
}

/// Per-kernel spill figures from a ptxas `-v` log.
pub fn spills(log: &str) -> Vec<Spill> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            current = Some(rest.trim().to_string());
        } else if line.contains("bytes spill stores") {
            let nums: Vec<u64> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            if let (Some(kernel), [stack, stores, loads, ..]) = (current.take(), nums.as_slice()) {
                out.push(Spill {
                    kernel,
                    stack_bytes: *stack,
                    store_bytes: *stores,
                    load_bytes: *loads,
                });
            }
        }
    }
    out
}

/// Kernels whose spills a source accepts, each on a line `// spill-ok: <kernel>: <reason>`.
pub fn accepted_spills(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("// spill-ok:"))
        .filter_map(|rest| rest.split(':').next())
        .map(|k| k.trim().to_string())
        .collect()
}

/// Fails on any kernel of `op` that spills registers without a `// spill-ok:` line for it.
pub fn check_spills(op: &str, source: &str, arch: &str, log: &str) -> Result<Vec<Spill>> {
    let accepted = accepted_spills(source);
    let all = spills(log);
    if let Some(bad) = all
        .iter()
        .find(|s| (s.store_bytes > 0 || s.load_bytes > 0) && !accepted.contains(&s.kernel))
    {
        return Err(CudaError::Spill {
            op: op.to_string(),
            arch: arch.to_string(),
            detail: format!(
                "{}: {} bytes spill stores, {} bytes spill loads",
                bad.kernel, bad.store_bytes, bad.load_bytes
            ),
        });
    }
    Ok(all)
}

/// The CUBIN architecture name of a compute capability (`(9, 0)` → `sm_90`).
pub fn arch_name(major: i32, minor: i32) -> String {
    format!("sm_{major}{minor}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'a_f32' for 'sm_80'\n\
ptxas info    : Function properties for a_f32\n\
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 32 registers, used 0 barriers, 360 bytes cmem[0]\n\
ptxas info    : Function properties for b_f32\n\
ptxas         .     24 bytes stack frame, 20 bytes spill stores, 12 bytes spill loads\n";

    #[test]
    fn reads_spills_per_kernel() {
        let s = spills(LOG);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            Spill {
                kernel: "a_f32".into(),
                stack_bytes: 0,
                store_bytes: 0,
                load_bytes: 0
            }
        );
        assert_eq!(
            s[1],
            Spill {
                kernel: "b_f32".into(),
                stack_bytes: 24,
                store_bytes: 20,
                load_bytes: 12
            }
        );
    }

    #[test]
    fn spills_fail_unless_accepted_in_a_comment() {
        let err =
            check_spills("x", "// nothing accepted\n", "sm_80", LOG).expect_err("b_f32 spills");
        assert!(err.to_string().contains("b_f32"), "{err}");
        let ok = "// spill-ok: b_f32: the 20 bytes are the rarely used tail path\n";
        assert_eq!(
            check_spills("x", ok, "sm_80", LOG).map(|s| s.len()).ok(),
            Some(2)
        );
    }

    #[test]
    fn cache_keys_change_with_source_arch_and_compiler() {
        let k = cache_key("a", "sm_80", (12, 9));
        assert_ne!(k, cache_key("b", "sm_80", (12, 9)));
        assert_ne!(k, cache_key("a", "sm_90", (12, 9)));
        assert_ne!(k, cache_key("a", "sm_80", (12, 8)));
        assert_eq!(k, cache_key("a", "sm_80", (12, 9)));
    }
}
