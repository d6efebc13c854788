//! Tandem's GPU kernel sources as string constants: `wgsl::<OP>` for `tandem-wgpu`, one op per
//! file (`wgsl/<op>.wgsl`).
//!
//! The sources live in this crate (not in a folder beside the backends) so that each backend
//! crate packages and publishes with its kernels: an `include_str!` that reaches outside its own
//! crate builds in the workspace but breaks `cargo package`. The backends compile these at run
//! time (wgpu's shader compiler, NVRTC), so a constant is all they need.
//!
//! ```
//! assert!(tandem_kernels::wgsl::MATMUL.contains("fn matmul"));
//! ```

/// WGSL compute shaders, written against the type aliases and helpers `tandem-wgpu` prepends
/// (see its `runtime::kernel`). Entry points are named after the op.
pub mod wgsl {
    /// `wgsl/attention.wgsl`.
    pub const ATTENTION: &str = include_str!("../wgsl/attention.wgsl");
    /// `wgsl/binary.wgsl`.
    pub const BINARY: &str = include_str!("../wgsl/binary.wgsl");
    /// `wgsl/cast.wgsl`.
    pub const CAST: &str = include_str!("../wgsl/cast.wgsl");
    /// `wgsl/common.wgsl`.
    pub const COMMON: &str = include_str!("../wgsl/common.wgsl");
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
