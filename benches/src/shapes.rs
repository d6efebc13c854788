//! The shapes the benchmarks run at, taken from the models Tandem serves.
//!
//! - **ViT-B/16 at 384** (BLIP's image encoder): 24×24 patches + CLS = 577 tokens, hidden 768,
//!   MLP 3072, 12 heads of 64, fused QKV (768 → 2304).
//! - **ViT-B/32 at 224** (CLIP's image encoder): 7×7 patches + CLS = 50 tokens, same widths.
//! - **BERT decoder steps** (BLIP's caption decoder with a KV cache): 1–10 new rows × 768, MLP
//!   3072, the LM head 768 → 30524, self-attention over a cache of ~30 tokens, cross-attention
//!   to the 577 image tokens.
//! - **CLIP text** (the caption ranker): 77 tokens × 512, MLP 2048, 8 heads of 64.
//!
//! Matmul shapes are written `m×k×n` (`[m, k] · [k, n]`), so `577x768x3072` is ViT-B/16's MLP
//! up-projection: 577 tokens, 768 in, 3072 out.

/// One `[m, k] · [k, n]` product and the model layer it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Where the shape occurs, for reports.
    pub role: &'static str,
}

impl MatmulShape {
    pub const fn new(m: usize, k: usize, n: usize, role: &'static str) -> Self {
        MatmulShape { m, k, n, role }
    }

    /// `m×k×n`, the benchmark id.
    pub fn id(&self) -> String {
        format!("{}x{}x{}", self.m, self.k, self.n)
    }

    /// Multiply-adds count twice.
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.k * self.n) as u64
    }
}

/// Large encoder matmuls: the ones the ≥ 70 %-of-peak target is about.
pub const VIT_LARGE: &[MatmulShape] = &[
    MatmulShape::new(577, 768, 2304, "ViT-B/16@384 fused QKV"),
    MatmulShape::new(
        577,
        768,
        768,
        "ViT-B/16@384 attn out / cross-attn K,V of image",
    ),
    MatmulShape::new(577, 768, 3072, "ViT-B/16@384 MLP up"),
    MatmulShape::new(577, 3072, 768, "ViT-B/16@384 MLP down"),
];

/// Every matmul shape benchmarked, large to small.
pub const MATMULS: &[MatmulShape] = &[
    MatmulShape::new(577, 768, 2304, "ViT-B/16@384 fused QKV"),
    MatmulShape::new(
        577,
        768,
        768,
        "ViT-B/16@384 attn out / cross-attn K,V of image",
    ),
    MatmulShape::new(577, 768, 3072, "ViT-B/16@384 MLP up"),
    MatmulShape::new(577, 3072, 768, "ViT-B/16@384 MLP down"),
    MatmulShape::new(50, 768, 2304, "ViT-B/32@224 fused QKV"),
    MatmulShape::new(50, 768, 3072, "ViT-B/32@224 MLP up"),
    MatmulShape::new(50, 3072, 768, "ViT-B/32@224 MLP down"),
    MatmulShape::new(77, 512, 2048, "CLIP text MLP up"),
    MatmulShape::new(77, 2048, 512, "CLIP text MLP down"),
    MatmulShape::new(77, 512, 512, "CLIP text q/k/v/out"),
    MatmulShape::new(10, 768, 768, "BERT step (10 rows) attn proj"),
    MatmulShape::new(10, 768, 3072, "BERT step (10 rows) MLP up"),
    MatmulShape::new(10, 3072, 768, "BERT step (10 rows) MLP down"),
    MatmulShape::new(1, 768, 768, "BERT step (1 row) attn proj"),
    MatmulShape::new(1, 768, 3072, "BERT step (1 row) MLP up"),
    MatmulShape::new(10, 768, 30524, "BERT LM head (10 rows)"),
    MatmulShape::new(1, 768, 30524, "BERT LM head (1 row)"),
];

/// One attention call: `q [batch, heads, q_len, head_dim]` against `kv_len` keys/values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub heads: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub head_dim: usize,
    pub causal: bool,
    /// Keys/values are a view narrowed out of a larger KV-cache buffer (strided, not copied).
    pub cached: bool,
    pub name: &'static str,
}

impl AttentionShape {
    /// `q·kᵀ` and `p·v`; softmax is not counted (it is a few flops per score, memory-bound).
    pub fn flops(&self) -> u64 {
        4 * (self.batch * self.heads * self.q_len * self.kv_len * self.head_dim) as u64
    }

    pub fn id(&self) -> String {
        format!(
            "{}/b{}h{}q{}k{}d{}",
            self.name, self.batch, self.heads, self.q_len, self.kv_len, self.head_dim
        )
    }
}

const fn attn(
    name: &'static str,
    batch: usize,
    heads: usize,
    q_len: usize,
    kv_len: usize,
    causal: bool,
    cached: bool,
) -> AttentionShape {
    AttentionShape {
        batch,
        heads,
        q_len,
        kv_len,
        head_dim: 64,
        causal,
        cached,
        name,
    }
}

pub const ATTENTIONS: &[AttentionShape] = &[
    attn("vit_b16_384", 1, 12, 577, 577, false, false),
    attn("vit_b32_224", 1, 12, 50, 50, false, false),
    attn("bert_cross", 1, 12, 10, 577, false, false),
    attn("bert_self_cached", 1, 12, 1, 30, true, true),
    attn("bert_self_cached", 10, 12, 1, 30, true, true),
    attn("clip_text", 1, 8, 77, 77, true, false),
];

/// Capacity of the KV-cache buffer that `cached` shapes are narrowed out of.
pub const KV_CACHE_CAPACITY: usize = 40;

/// BERT / BLIP text vocabulary (BLIP adds [DEC] and [ENC] to bert-base-uncased's 30522).
pub const BERT_VOCAB: usize = 30524;
/// CLIP's BPE vocabulary.
pub const CLIP_VOCAB: usize = 49408;
