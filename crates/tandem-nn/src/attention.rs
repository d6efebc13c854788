//! Multi-head attention (self and cross) with per-request caches held outside the layer.
//!
//! The layer holds only weights, so one loaded model serves many concurrent requests; the
//! growing self-attention keys/values of a decoder live in a [`KvCache`] owned by the caller,
//! and the keys/values of cross-attention to an encoder output are computed once into a
//! [`CrossKv`] and reused for every decoding step (and shared by every beam: a `CrossKv` of
//! batch 1 broadcasts over any number of queries).
//!
//! Heads are split as strided views (`[b, l, h, d]` permuted to `[b, h, l, d]`) and handed to
//! [`tandem_tensor::attention`] without copies.

use crate::error::{NnError, Result};
use crate::linear::Linear;
use crate::weights::Weights;
use tandem_tensor::{attention, AttentionSpec, Backend, Tensor};

/// The query/key/value projections: three layers, or one fused `[3·dim, dim]` layer (BLIP's
/// vision tower), whose output is split as views.
#[derive(Clone, Debug)]
// One value per attention layer, built at load and never moved in a hot loop: boxing the
// larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum QkvProjection<B: Backend> {
    Separate {
        q: Linear<B>,
        k: Linear<B>,
        v: Linear<B>,
    },
    Fused(Linear<B>),
}

#[derive(Clone, Debug)]
pub struct Attention<B: Backend> {
    qkv: QkvProjection<B>,
    out: Linear<B>,
    num_heads: usize,
    head_dim: usize,
    scale: f32,
}

/// Keys and values of one decoder's self-attention so far: `[b, h, len, d]` each, held in
/// buffers `[b, h, capacity, d]` that new positions are written into in place
/// ([`Tensor::slice_set`]). Owned by the request, not the model.
///
/// With [`KvCache::with_capacity`] (a decoder knows its `max_length`) the buffers are allocated
/// once, at the first append, and every step writes only its new positions: O(new) per step,
/// where concatenating would copy the whole cache each step (O(n²) per sequence). Without a
/// capacity they start at the first append's length (at least 16) and double when full.
#[derive(Clone, Debug)]
pub struct KvCache<B: Backend> {
    /// Full buffers `[b, h, capacity, d]`; positions `len..capacity` are unused.
    kv: Option<(Tensor<B>, Tensor<B>)>,
    len: usize,
    capacity: Option<usize>,
}

impl<B: Backend> Default for KvCache<B> {
    fn default() -> Self {
        KvCache {
            kv: None,
            len: 0,
            capacity: None,
        }
    }
}

/// Smallest buffer (in positions) a cache without a capacity allocates.
const MIN_CAPACITY: usize = 16;

impl<B: Backend> KvCache<B> {
    /// A cache that grows by doubling.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache preallocated for `max_len` positions at its first append (appending past that
    /// still works: the buffers then double).
    pub fn with_capacity(max_len: usize) -> Self {
        KvCache {
            kv: None,
            len: 0,
            capacity: Some(max_len),
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the buffers hold before they must grow (0 before the first append).
    pub fn capacity(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dims()[2])
    }

    /// Appends new keys/values `[b, h, n, d]` in place and returns views `[b, h, len, d]` of the
    /// whole cache. Drop the views before the next append, or that append copies the buffers
    /// first (copy-on-write keeps the views' values; it is correct, only slower).
    pub fn append(&mut self, k: &Tensor<B>, v: &Tensor<B>) -> Result<(Tensor<B>, Tensor<B>)> {
        if k.rank() != 4 || v.rank() != 4 || k.dims()[..3] != v.dims()[..3] {
            return Err(NnError::input(
                "kv cache append",
                format!(
                    "keys {:?} and values {:?} are not [b, h, n, d]",
                    k.dims(),
                    v.dims()
                ),
            ));
        }
        let n = k.dims()[2];
        let needed = self.len + n;
        let (mut ck, mut cv) = match self.kv.take() {
            Some((ck, cv)) if ck.dims()[2] >= needed => (ck, cv),
            old => {
                let want = match &old {
                    None => self.capacity.unwrap_or(MIN_CAPACITY).max(needed),
                    Some((ck, _)) => (2 * ck.dims()[2]).max(needed),
                };
                let grown = |t: &Tensor<B>| -> Result<Tensor<B>> {
                    let mut dims = t.dims().to_vec();
                    dims[2] = want;
                    Ok(Tensor::zeros(t.backend(), &dims, t.dtype())?)
                };
                let (mut nk, mut nv) = (grown(k)?, grown(v)?);
                if let Some((ok, ov)) = old {
                    nk.slice_set(&ok.narrow(2, 0, self.len)?, 2, 0)?;
                    nv.slice_set(&ov.narrow(2, 0, self.len)?, 2, 0)?;
                }
                (nk, nv)
            }
        };
        ck.slice_set(k, 2, self.len)?;
        cv.slice_set(v, 2, self.len)?;
        self.len = needed;
        let views = (ck.narrow(2, 0, needed)?, cv.narrow(2, 0, needed)?);
        self.kv = Some((ck, cv));
        Ok(views)
    }

    /// Keeps batch rows `rows` (`U32`/`I64` indices), e.g. the surviving beams of a beam search.
    pub fn select_batch(&mut self, rows: &Tensor<B>) -> Result<()> {
        if let Some((k, v)) = &self.kv {
            self.kv = Some((k.index_select(0, rows)?, v.index_select(0, rows)?));
        }
        Ok(())
    }

    /// Appends the rows of `other` after this cache's rows (continuous batching: sequences
    /// that started later join a running batch). `other`'s positions are right-aligned so
    /// that they end at `self.len()`; the `self.len() - other.len()` positions before them are
    /// zeros that the caller must mask (see [`crate::padding_mask`]). A cache that has never
    /// been appended to takes `other`'s rows and length as they are. The buffers keep this
    /// cache's capacity.
    ///
    /// Errors (this cache unchanged): see [`KvCache::check_extend_rows`].
    pub fn extend_rows(&mut self, other: &KvCache<B>) -> Result<()> {
        self.check_extend_rows(other)?;
        let Some((ok, ov)) = other.get()? else {
            return Err(NnError::input(
                "kv cache extend_rows",
                "the joining cache has no rows",
            ));
        };
        let Some((sk, sv)) = &self.kv else {
            // Nothing cached yet: the joining rows become the cache, at this cache's capacity.
            let want = self.capacity.unwrap_or(MIN_CAPACITY).max(other.len);
            self.kv = Some((Self::placed(&ok, want, 0)?, Self::placed(&ov, want, 0)?));
            self.len = other.len;
            return Ok(());
        };
        let (cap, pad) = (sk.dims()[2], self.len - other.len);
        let nk = Tensor::cat(&[sk, &Self::placed(&ok, cap, pad)?], 0)?;
        let nv = Tensor::cat(&[sv, &Self::placed(&ov, cap, pad)?], 0)?;
        self.kv = Some((nk, nv));
        Ok(())
    }

    /// Whether [`KvCache::extend_rows`] can take `other`, without changing anything (so a
    /// caller extending several caches can check them all first). Errors: `other` was never
    /// appended to (it has no rows), is longer than this cache, or differs in heads, head
    /// size or dtype.
    pub fn check_extend_rows(&self, other: &KvCache<B>) -> Result<()> {
        let Some((ok, _)) = &other.kv else {
            return Err(NnError::input(
                "kv cache extend_rows",
                "the joining cache has no rows",
            ));
        };
        let Some((sk, _)) = &self.kv else {
            return Ok(());
        };
        let (o, s) = (ok.dims(), sk.dims());
        if other.len > self.len || o[1] != s[1] || o[3] != s[3] || ok.dtype() != sk.dtype() {
            return Err(NnError::input(
                "kv cache extend_rows",
                format!(
                    "cannot right-align {o:?} {} (length {}) into {s:?} {} (length {})",
                    ok.dtype(),
                    other.len,
                    sk.dtype(),
                    self.len
                ),
            ));
        }
        Ok(())
    }

    /// A zero buffer `[b, h, capacity, d]` holding `x: [b, h, n, d]` at positions `at..at + n`.
    fn placed(x: &Tensor<B>, capacity: usize, at: usize) -> Result<Tensor<B>> {
        let mut dims = x.dims().to_vec();
        dims[2] = capacity;
        let mut buf = Tensor::zeros(x.backend(), &dims, x.dtype())?;
        buf.slice_set(x, 2, at)?;
        Ok(buf)
    }

    /// Drops the first `n` positions of every row (they are masked in every row still
    /// running), so a continuously batched cache stays within its capacity. Errors: `n`
    /// exceeds the cached length.
    pub fn drop_front(&mut self, n: usize) -> Result<()> {
        if n > self.len {
            return Err(NnError::input(
                "kv cache drop_front",
                format!("{n} positions requested, {} cached", self.len),
            ));
        }
        if n == 0 {
            return Ok(());
        }
        if let Some((k, v)) = self.kv.take() {
            let (cap, keep) = (k.dims()[2], self.len - n);
            self.kv = Some((
                Self::placed(&k.narrow(2, n, keep)?, cap, 0)?,
                Self::placed(&v.narrow(2, n, keep)?, cap, 0)?,
            ));
        }
        self.len -= n;
        Ok(())
    }

    /// Views `[b, h, len, d]` of the cached keys and values, if any.
    pub fn get(&self) -> Result<Option<(Tensor<B>, Tensor<B>)>> {
        match &self.kv {
            None => Ok(None),
            Some((k, v)) => Ok(Some((k.narrow(2, 0, self.len)?, v.narrow(2, 0, self.len)?))),
        }
    }
}

/// Cross-attention keys and values of one encoder output, `[b or 1, h, len, d]`.
#[derive(Clone, Debug)]
pub struct CrossKv<B: Backend> {
    pub k: Tensor<B>,
    pub v: Tensor<B>,
}

impl<B: Backend> CrossKv<B> {
    /// Keeps batch rows `rows` (e.g. repeats one image's keys for several beams).
    pub fn select_batch(&self, rows: &Tensor<B>) -> Result<Self> {
        Ok(CrossKv {
            k: self.k.index_select(0, rows)?,
            v: self.v.index_select(0, rows)?,
        })
    }
}

/// `[b, l, h·d]` → `[b, h, l, d]` as a view.
fn split_heads<B: Backend>(x: &Tensor<B>, heads: usize, head_dim: usize) -> Result<Tensor<B>> {
    let (b, l) = (x.dims()[0], x.dims()[1]);
    Ok(x.reshape(&[b, l, heads, head_dim])?
        .permute(&[0, 2, 1, 3])?)
}

fn check_rank3<B: Backend>(what: &'static str, x: &Tensor<B>, dim: usize) -> Result<()> {
    if x.rank() != 3 || x.dims()[2] != dim {
        return Err(NnError::input(
            what,
            format!("expected [batch, len, {dim}], got {:?}", x.dims()),
        ));
    }
    Ok(())
}

impl<B: Backend> Attention<B> {
    /// Builds from parts; `out` maps `heads·head_dim` back to the model width.
    pub fn new(qkv: QkvProjection<B>, out: Linear<B>, num_heads: usize) -> Result<Self> {
        let inner = out.in_dim();
        if num_heads == 0 || !inner.is_multiple_of(num_heads) {
            return Err(NnError::config(
                "num_attention_heads",
                format!("{inner} is not divisible by {num_heads} heads"),
            ));
        }
        let head_dim = inner / num_heads;
        Ok(Attention {
            qkv,
            out,
            num_heads,
            head_dim,
            scale: (head_dim as f32).powf(-0.5),
        })
    }

    /// CLIP/BLIP-text style names: `q_proj`, `k_proj`, `v_proj`, `out_proj`, all with biases.
    /// `kv_dim` is the width keys and values are projected from (`dim` for self-attention).
    pub fn load_qkv_proj(
        w: &Weights<B>,
        dim: usize,
        kv_dim: usize,
        num_heads: usize,
    ) -> Result<Self> {
        let qkv = QkvProjection::Separate {
            q: Linear::load(&w.prefix("q_proj"), dim, dim, true)?,
            k: Linear::load(&w.prefix("k_proj"), kv_dim, dim, true)?,
            v: Linear::load(&w.prefix("v_proj"), kv_dim, dim, true)?,
        };
        Self::new(
            qkv,
            Linear::load(&w.prefix("out_proj"), dim, dim, true)?,
            num_heads,
        )
    }

    pub fn num_heads(&self) -> usize {
        self.num_heads
    }
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }
    fn width(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Softmax temperature, `1/√head_dim` unless overridden.
    pub fn with_scale(mut self, scale: f32) -> Self {
        self.scale = scale;
        self
    }

    /// (q, k, v) as `[b, h, l, d]` views for self-attention over `x: [b, l, dim]`.
    fn project_self(&self, x: &Tensor<B>) -> Result<(Tensor<B>, Tensor<B>, Tensor<B>)> {
        let (h, d) = (self.num_heads, self.head_dim);
        match &self.qkv {
            QkvProjection::Separate { q, k, v } => Ok((
                split_heads(&q.forward(x)?, h, d)?,
                split_heads(&k.forward(x)?, h, d)?,
                split_heads(&v.forward(x)?, h, d)?,
            )),
            QkvProjection::Fused(qkv) => {
                let (b, l) = (x.dims()[0], x.dims()[1]);
                // [b, l, 3, h, d] → [3, b, h, l, d]; each of q/k/v is a view with a contiguous last dim.
                let all = qkv
                    .forward(x)?
                    .reshape(&[b, l, 3, h, d])?
                    .permute(&[2, 0, 3, 1, 4])?;
                let part = |i: usize| -> Result<Tensor<B>> { Ok(all.narrow(0, i, 1)?.squeeze(0)?) };
                Ok((part(0)?, part(1)?, part(2)?))
            }
        }
    }

    fn project_query(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        match &self.qkv {
            QkvProjection::Separate { q, .. } => {
                split_heads(&q.forward(x)?, self.num_heads, self.head_dim)
            }
            QkvProjection::Fused(_) => Err(NnError::input(
                "cross-attention",
                "a fused qkv projection cannot attend to another sequence",
            )),
        }
    }

    /// `[b, h, l, d]` → `[b, l, h·d]` → output projection.
    fn merge(&self, ctx: &Tensor<B>) -> Result<Tensor<B>> {
        let (b, l) = (ctx.dims()[0], ctx.dims()[2]);
        let merged = ctx.permute(&[0, 2, 1, 3])?.reshape(&[b, l, self.width()])?;
        self.out.forward(&merged)
    }

    /// Self-attention over `x: [b, l, dim]`. `mask` is additive, broadcastable to
    /// `[b, h, l, l]` (see [`crate::padding_mask`]); `causal` hides later positions.
    pub fn forward(
        &self,
        x: &Tensor<B>,
        mask: Option<&Tensor<B>>,
        causal: bool,
    ) -> Result<Tensor<B>> {
        check_rank3("attention input", x, self.out.out_dim())?;
        let (q, k, v) = self.project_self(x)?;
        let ctx = attention(
            &q,
            &k,
            &v,
            mask,
            AttentionSpec {
                scale: self.scale,
                causal,
            },
        )?;
        self.merge(&ctx)
    }

    /// Self-attention of new positions `x: [b, n, dim]` over the cache plus themselves; appends
    /// their keys/values to `cache`. Causal: new position `i` sees the cache and new positions
    /// `0..=i`. `mask` (additive) must cover all `cache.len() + n` keys.
    pub fn forward_cached(
        &self,
        x: &Tensor<B>,
        mask: Option<&Tensor<B>>,
        cache: &mut KvCache<B>,
    ) -> Result<Tensor<B>> {
        check_rank3("attention input", x, self.out.out_dim())?;
        let (q, k, v) = self.project_self(x)?;
        let (k, v) = cache.append(&k, &v)?;
        let ctx = attention(
            &q,
            &k,
            &v,
            mask,
            AttentionSpec {
                scale: self.scale,
                causal: true,
            },
        )?;
        self.merge(&ctx)
    }

    /// Keys and values of an encoder output `[b, len, kv_dim]`, computed once for every step.
    pub fn cross_kv(&self, encoder: &Tensor<B>) -> Result<CrossKv<B>> {
        let QkvProjection::Separate { k, v, .. } = &self.qkv else {
            return Err(NnError::input(
                "cross-attention",
                "a fused qkv projection cannot attend to another sequence",
            ));
        };
        check_rank3("cross-attention encoder states", encoder, k.in_dim())?;
        Ok(CrossKv {
            k: split_heads(&k.forward(encoder)?, self.num_heads, self.head_dim)?,
            v: split_heads(&v.forward(encoder)?, self.num_heads, self.head_dim)?,
        })
    }

    /// Cross-attention of `x: [b, l, dim]` to precomputed keys/values (batch `b` or 1).
    /// `mask` is additive over the encoder positions, broadcastable to `[b, h, l, len]`.
    pub fn forward_cross(
        &self,
        x: &Tensor<B>,
        kv: &CrossKv<B>,
        mask: Option<&Tensor<B>>,
    ) -> Result<Tensor<B>> {
        check_rank3("attention input", x, self.out.out_dim())?;
        let q = self.project_query(x)?;
        let ctx = attention(
            &q,
            &kv.k,
            &kv.v,
            mask,
            AttentionSpec {
                scale: self.scale,
                causal: false,
            },
        )?;
        self.merge(&ctx)
    }
}
