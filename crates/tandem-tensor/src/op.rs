//! Descriptions of the operations a [`Backend`](crate::Backend) executes.
//!
//! These are plain data so that every backend (and the conformance suite's reference) agrees on
//! exactly what an op means, and so GPU backends can key their compiled pipelines on them.

/// Elementwise functions of one float input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `x * mul + add`.
    Affine {
        mul: f32,
        add: f32,
    },
    Neg,
    Exp,
    Log,
    Sqrt,
    /// `1 / sqrt(x)`.
    Rsqrt,
    Recip,
    Abs,
    Square,
    Tanh,
    Sigmoid,
    Relu,
    Silu,
    /// GELU with the exact erf form, `0.5 x (1 + erf(x / √2))` (BERT, BLIP, ViT).
    Gelu,
    /// GELU with the tanh approximation (`gelu_new` / `gelu_pytorch_tanh`).
    GeluTanh,
    /// `x · σ(1.702 x)`, OpenAI CLIP's activation.
    QuickGelu,
}

/// Activations a fused matmul epilogue may apply. A subset of [`UnaryOp`] named after the
/// Hugging Face `hidden_act` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Gelu,
    GeluTanh,
    QuickGelu,
    Relu,
    Silu,
    Tanh,
}

impl Activation {
    pub fn as_unary(self) -> UnaryOp {
        match self {
            Activation::Gelu => UnaryOp::Gelu,
            Activation::GeluTanh => UnaryOp::GeluTanh,
            Activation::QuickGelu => UnaryOp::QuickGelu,
            Activation::Relu => UnaryOp::Relu,
            Activation::Silu => UnaryOp::Silu,
            Activation::Tanh => UnaryOp::Tanh,
        }
    }

    /// Parses a Hugging Face `hidden_act` value.
    pub fn from_hf(name: &str) -> Option<Activation> {
        Some(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "quick_gelu" => Activation::QuickGelu,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            "tanh" => Activation::Tanh,
            _ => return None,
        })
    }
}

/// Elementwise functions of two inputs, with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// Reductions over the last dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    /// Index (u32) of the first maximum.
    ArgMax,
    /// Index (u32) of the first minimum.
    ArgMin,
}

/// One operand of a batched matmul, addressed in its storage without copying.
///
/// Element `(b, i, j)` of the logical `rows × cols` matrix lives at
/// `offset + b * batch_stride + i * row_stride + j * col_stride`; one of the two inner strides
/// is 1 (`transposed()` tells which) so BLAS-style kernels can use transpose flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatrixRef {
    pub offset: usize,
    /// 0 broadcasts one matrix over the whole batch (e.g. a weight).
    pub batch_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatrixRef {
    /// Stored column-major (the logical matrix is a transposed view of row-major data).
    pub fn transposed(&self) -> bool {
        self.col_stride != 1
    }
    /// Leading dimension in BLAS terms.
    pub fn ld(&self) -> usize {
        if self.transposed() {
            self.col_stride
        } else {
            self.row_stride
        }
    }
}

/// `out[b] = lhs[b] (m × k) · rhs[b] (k × n)`, output contiguous `[batch, m, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulSpec {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lhs: MatrixRef,
    pub rhs: MatrixRef,
}

impl MatmulSpec {
    pub fn flops(&self) -> u64 {
        2 * (self.batch * self.m * self.n * self.k) as u64
    }
}

/// Scaled dot-product attention over `[batch, heads, seq, head_dim]` operands.
///
/// Queries at position `i` of `q_len` sit at absolute position `kv_len - q_len + i`, which is what
/// a decoder with a KV cache needs: with `causal`, query `i` sees keys `0..=kv_len - q_len + i`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSpec {
    pub scale: f32,
    pub causal: bool,
}
