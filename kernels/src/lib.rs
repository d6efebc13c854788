//! Tandem's GPU kernel sources as string constants: `wgsl::<OP>` for `tandem-wgpu`, `cuda::<OP>`
//! for `tandem-cuda`, one op per file with the same `<op>` name in both languages
//! (`wgsl/<op>.wgsl`, `cuda/<op>.cu`).
//!
//! The sources live in this crate (not in a folder beside the backends) so that each backend
//! crate packages and publishes with its kernels: an `include_str!` that reaches outside its own
//! crate builds in the workspace but breaks `cargo package`. The backends compile these at run
//! time (wgpu's shader compiler, NVRTC), so a constant is all they need.
//!
//! ```
//! assert!(tandem_kernels::cuda::MATMUL.contains("matmul_f32"));
//! assert!(tandem_kernels::wgsl::MATMUL.contains("fn matmul"));
//! ```

/// WGSL compute shaders, written against the type aliases and helpers `tandem-wgpu` prepends
/// (see its `runtime::kernel`). Entry points are named after the op.
pub mod wgsl {
    /// `wgsl/add_layer_norm.wgsl`.
    pub const ADD_LAYER_NORM: &str = include_str!("../wgsl/add_layer_norm.wgsl");
    /// `wgsl/attention.wgsl`.
    pub const ATTENTION: &str = include_str!("../wgsl/attention.wgsl");
    /// `wgsl/binary.wgsl`.
    pub const BINARY: &str = include_str!("../wgsl/binary.wgsl");
    /// `wgsl/cast.wgsl`.
    pub const CAST: &str = include_str!("../wgsl/cast.wgsl");
    /// `wgsl/common.wgsl`.
    pub const COMMON: &str = include_str!("../wgsl/common.wgsl");
    /// `wgsl/workgroup_reduce.wgsl`: the 256-wide workgroup reductions (sum, max, arg-best)
    /// that row kernels include with `//#include workgroup_reduce`.
    pub const WORKGROUP_REDUCE: &str = include_str!("../wgsl/workgroup_reduce.wgsl");

    /// The files a kernel may paste in with a line `//#include <name>` (resolved by
    /// `tandem-wgpu`'s preprocessor): helpers written once instead of copied into each kernel.
    pub const INCLUDES: &[(&str, &str)] = &[("workgroup_reduce", WORKGROUP_REDUCE)];

    /// The source of the include named `name`, if there is one.
    pub fn include(name: &str) -> Option<&'static str> {
        INCLUDES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, src)| *src)
    }
    /// `wgsl/copy.wgsl`.
    pub const COPY: &str = include_str!("../wgsl/copy.wgsl");
    /// `wgsl/fill.wgsl`.
    pub const FILL: &str = include_str!("../wgsl/fill.wgsl");
    /// `wgsl/index_select.wgsl`.
    pub const INDEX_SELECT: &str = include_str!("../wgsl/index_select.wgsl");
    /// `wgsl/l2_normalize.wgsl`.
    pub const L2_NORMALIZE: &str = include_str!("../wgsl/l2_normalize.wgsl");
    /// `wgsl/layer_norm.wgsl`.
    pub const LAYER_NORM: &str = include_str!("../wgsl/layer_norm.wgsl");
    /// `wgsl/matmul.wgsl`.
    pub const MATMUL: &str = include_str!("../wgsl/matmul.wgsl");
    /// `wgsl/reduce.wgsl`.
    pub const REDUCE: &str = include_str!("../wgsl/reduce.wgsl");
    /// `wgsl/softmax.wgsl`.
    pub const SOFTMAX: &str = include_str!("../wgsl/softmax.wgsl");
    /// `wgsl/topk.wgsl`.
    pub const TOPK: &str = include_str!("../wgsl/topk.wgsl");
    /// `wgsl/unary.wgsl`.
    pub const UNARY: &str = include_str!("../wgsl/unary.wgsl");

    /// Deliberately naive kernels: the baselines the benches measure the real kernels against.
    /// They are not part of any backend's public API.
    pub mod naive {
        /// `wgsl/attention_naive.wgsl`.
        pub const ATTENTION_NAIVE: &str = include_str!("../wgsl/attention_naive.wgsl");
        /// `wgsl/matmul_naive.wgsl`.
        pub const MATMUL_NAIVE: &str = include_str!("../wgsl/matmul_naive.wgsl");
    }
}

/// CUDA C++ kernels for NVRTC. Each file is self-contained apart from [`cuda::COMMON`], which the
/// backend prepends (no CUDA headers are included, so compiling needs only `libnvrtc`, not a
/// toolkit's include folder). Entry points are `extern "C"` and named `<op>_<dtype>` (e.g.
/// `matmul_bf16`, `softmax_f32`).
pub mod cuda {
    /// `cuda/common.cuh`: dtype conversions (f16/bf16 by bit patterns and PTX `cvt`), warp and
    /// block reductions, activations.
    pub const COMMON: &str = include_str!("../cuda/common.cuh");
    /// `cuda/add_layer_norm.cu`.
    pub const ADD_LAYER_NORM: &str = include_str!("../cuda/add_layer_norm.cu");
    /// `cuda/attention.cu`.
    pub const ATTENTION: &str = include_str!("../cuda/attention.cu");
    /// `cuda/binary.cu`.
    pub const BINARY: &str = include_str!("../cuda/binary.cu");
    /// `cuda/cast.cu`.
    pub const CAST: &str = include_str!("../cuda/cast.cu");
    /// `cuda/copy.cu`.
    pub const COPY: &str = include_str!("../cuda/copy.cu");
    /// `cuda/fill.cu`.
    pub const FILL: &str = include_str!("../cuda/fill.cu");
    /// `cuda/index_select.cu`.
    pub const INDEX_SELECT: &str = include_str!("../cuda/index_select.cu");
    /// `cuda/l2_normalize.cu`.
    pub const L2_NORMALIZE: &str = include_str!("../cuda/l2_normalize.cu");
    /// `cuda/layer_norm.cu`.
    pub const LAYER_NORM: &str = include_str!("../cuda/layer_norm.cu");
    /// `cuda/matmul.cu`.
    pub const MATMUL: &str = include_str!("../cuda/matmul.cu");
    /// `cuda/preprocess.cu`.
    pub const PREPROCESS: &str = include_str!("../cuda/preprocess.cu");
    /// `cuda/reduce.cu`.
    pub const REDUCE: &str = include_str!("../cuda/reduce.cu");
    /// `cuda/softmax.cu`.
    pub const SOFTMAX: &str = include_str!("../cuda/softmax.cu");
    /// `cuda/topk.cu`.
    pub const TOPK: &str = include_str!("../cuda/topk.cu");
    /// `cuda/unary.cu`.
    pub const UNARY: &str = include_str!("../cuda/unary.cu");

    /// Every kernel file as `(op, source)`, for compile checks and ahead-of-time warm-up.
    pub const ALL: &[(&str, &str)] = &[
        ("add_layer_norm", ADD_LAYER_NORM),
        ("attention", ATTENTION),
        ("binary", BINARY),
        ("cast", CAST),
        ("copy", COPY),
        ("fill", FILL),
        ("index_select", INDEX_SELECT),
        ("l2_normalize", L2_NORMALIZE),
        ("layer_norm", LAYER_NORM),
        ("matmul", MATMUL),
        ("preprocess", PREPROCESS),
        ("reduce", REDUCE),
        ("softmax", SOFTMAX),
        ("topk", TOPK),
        ("unary", UNARY),
    ];
}

#[cfg(test)]
mod tests {
    /// Every `cuda/*.cu` file is listed in [`super::cuda::ALL`] (so the NVRTC compile check in
    /// `tandem-cuda` cannot miss a new kernel), and every listed op has its file.
    #[test]
    fn cuda_list_matches_the_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cuda");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("kernels/cuda is readable")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".cu"))
                    .map(str::to_owned)
            })
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = super::cuda::ALL
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "add the new kernel to `cuda::ALL` and a constant in kernels/src/lib.rs"
        );
    }

    /// Every `//#include <name>` line of a WGSL file names an include that exists, and no
    /// kernel still carries its own copy of the workgroup reduction tree.
    #[test]
    fn wgsl_includes_resolve() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wgsl");
        let mut includes = 0;
        for entry in std::fs::read_dir(&dir).expect("kernels/wgsl is readable") {
            let path = entry.expect("a directory entry").path();
            let src = std::fs::read_to_string(&path).expect("a WGSL file");
            for line in src.lines() {
                if let Some(name) = line.trim().strip_prefix("//#include ") {
                    includes += 1;
                    assert!(
                        super::wgsl::include(name.trim()).is_some(),
                        "{}: unknown include `{}`",
                        path.display(),
                        name.trim()
                    );
                }
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != "workgroup_reduce.wgsl" {
                assert!(
                    !src.contains("s > 0u; s >>= 1u"),
                    "{name} has its own workgroup reduction tree: use `//#include workgroup_reduce`"
                );
            }
        }
        assert!(
            includes >= 5,
            "the five row kernels include workgroup_reduce"
        );
    }

    /// Every CUDA op has a WGSL kernel of the same name, except the ones only CUDA has.
    #[test]
    fn cuda_ops_are_named_like_wgsl_ops() {
        let cuda_only = ["preprocess"];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wgsl");
        for (op, _) in super::cuda::ALL {
            if cuda_only.contains(op) {
                continue;
            }
            assert!(
                dir.join(format!("{op}.wgsl")).exists(),
                "cuda/{op}.cu has no wgsl/{op}.wgsl of the same name"
            );
        }
    }
}
