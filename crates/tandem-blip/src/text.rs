//! BLIP's text decoder (`text_decoder.*`): BERT embeddings without token types, post-norm
//! layers with causal self-attention, cross-attention to the image and a feed-forward block,
//! and the masked-LM head whose output matrix is tied to the word embeddings.
//!
//! The decoder holds only weights. Everything that changes while decoding (self-attention
//! keys/values in [`DecoderCache`], the image keys/values in [`ImageContext`]) is owned by the
//! caller, so one loaded decoder serves concurrent requests.

use crate::config::BlipConfig;
use crate::cross_attention::{CrossAttention, RowGroup};
use crate::error::{BlipError, Result};
use tandem_nn::{
    activation, padding_mask, Attention, CrossKv, Embedding, KvCache, LayerNorm, Linear, Mlp,
    QkvProjection, Weights,
};
use tandem_tensor::{Activation, Backend, Tensor};

#[derive(Clone, Debug)]
struct DecoderLayer<B: Backend> {
    self_attn: Attention<B>,
    self_norm: LayerNorm<B>,
    cross_attn: CrossAttention<B>,
    cross_norm: LayerNorm<B>,
    mlp: Mlp<B>,
    mlp_norm: LayerNorm<B>,
}

/// Query, key and value of BERT self-attention fused into one `[3·dim, dim]` projection at
/// load time: one matmul per step instead of three (the `[b, l, 3, h, d]` output layout is
/// what [`QkvProjection::Fused`] expects).
fn fused_self_qkv<B: Backend>(w: &Weights<B>, dim: usize) -> Result<QkvProjection<B>> {
    let (mut weights, mut biases) = (Vec::with_capacity(3), Vec::with_capacity(3));
    for name in ["query", "key", "value"] {
        let p = w.prefix(name);
        weights.push(p.get("weight", &[dim, dim])?);
        biases.push(p.get("bias", &[dim])?);
    }
    let (weights, biases): (Vec<_>, Vec<_>) = (weights.iter().collect(), biases.iter().collect());
    Ok(QkvProjection::Fused(Linear::new(
        Tensor::cat(&weights, 0)?,
        Some(Tensor::cat(&biases, 0)?),
    )))
}

impl<B: Backend> DecoderLayer<B> {
    fn load(
        w: &Weights<B>,
        dim: usize,
        enc_dim: usize,
        heads: usize,
        inter: usize,
        act: Activation,
        eps: f32,
    ) -> Result<Self> {
        let out = Linear::load(&w.prefix("attention.output.dense"), dim, dim, true)?;
        Ok(DecoderLayer {
            self_attn: Attention::new(
                fused_self_qkv(&w.prefix("attention.self"), dim)?,
                out,
                heads,
            )?,
            self_norm: LayerNorm::load(&w.prefix("attention.output.LayerNorm"), dim, eps)?,
            cross_attn: CrossAttention::load(&w.prefix("crossattention"), dim, enc_dim, heads)?,
            cross_norm: LayerNorm::load(&w.prefix("crossattention.output.LayerNorm"), dim, eps)?,
            mlp: Mlp::new(
                Linear::load(&w.prefix("intermediate.dense"), dim, inter, true)?,
                Linear::load(&w.prefix("output.dense"), inter, dim, true)?,
                act,
            ),
            mlp_norm: LayerNorm::load(&w.prefix("output.LayerNorm"), dim, eps)?,
        })
    }
}

/// Cross-attention keys/values of every decoder layer for a set of images, computed once and
/// shared by all sequences and all steps: `layers[l][i]` is image `i`'s `[1, h, tokens, d]`
/// (views of one `[n, h, tokens, d]` projection per layer). Kept per image so that images of
/// different requests can share a decode batch ([`ImageContext::append`]) and leave it
/// ([`ImageContext::select`]) without copying keys or values.
#[derive(Clone, Debug)]
pub struct ImageContext<B: Backend> {
    layers: Vec<Vec<CrossKv<B>>>,
}

impl<B: Backend> ImageContext<B> {
    pub fn num_images(&self) -> usize {
        self.layers.first().map_or(0, Vec::len)
    }

    /// Adds `other`'s images after this context's (image `i` of `other` becomes
    /// `self.num_images() + i`). Errors: the layer counts differ.
    pub fn append(&mut self, other: ImageContext<B>) -> Result<()> {
        self.check_append(&other)?;
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            mine.extend(theirs);
        }
        Ok(())
    }

    /// Whether [`ImageContext::append`] can take `other`. Errors: the layer counts differ.
    pub fn check_append(&self, other: &ImageContext<B>) -> Result<()> {
        if other.layers.len() != self.layers.len() {
            return Err(BlipError::input(
                "image context",
                format!(
                    "{} layers cannot join a context of {}",
                    other.layers.len(),
                    self.layers.len()
                ),
            ));
        }
        Ok(())
    }

    /// The context of images `images` (indices into this one), in that order. Errors: an
    /// index out of range.
    pub fn select(&self, images: &[usize]) -> Result<Self> {
        let n = self.num_images();
        if let Some(&bad) = images.iter().find(|&&i| i >= n) {
            return Err(BlipError::input(
                "image context",
                format!("image {bad} of {n}"),
            ));
        }
        Ok(ImageContext {
            layers: self
                .layers
                .iter()
                .map(|l| images.iter().map(|&i| l[i].clone()).collect())
                .collect(),
        })
    }
}

/// Self-attention keys/values of a decode batch, one [`KvCache`] per layer; every row has
/// the same length. Rows are dropped or repeated with [`DecoderCache::select_rows`].
#[derive(Clone, Debug)]
pub struct DecoderCache<B: Backend> {
    layers: Vec<KvCache<B>>,
}

impl<B: Backend> DecoderCache<B> {
    pub fn new(layers: usize) -> Self {
        DecoderCache {
            layers: (0..layers).map(|_| KvCache::new()).collect(),
        }
    }
    /// A cache whose per-layer buffers are allocated once for `max_len` positions and
    /// appended to in place (see [`KvCache::with_capacity`]).
    pub fn with_capacity(layers: usize, max_len: usize) -> Self {
        DecoderCache {
            layers: (0..layers)
                .map(|_| KvCache::with_capacity(max_len))
                .collect(),
        }
    }
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |c| c.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps (or repeats) batch rows `rows`, in that order: compaction after sequences finish,
    /// fan-out of one prompt to N sequences, beam reordering.
    pub fn select_rows(&mut self, backend: &B, rows: &[u32]) -> Result<()> {
        let idx = Tensor::from_slice(backend, rows, &[rows.len()])?;
        for c in &mut self.layers {
            c.select_batch(&idx)?;
        }
        Ok(())
    }

    /// Positions the buffers hold before they grow.
    pub fn capacity(&self) -> usize {
        self.layers.first().map_or(0, |c| c.capacity())
    }

    /// Appends `other`'s rows, right-aligned to this cache's length (see
    /// [`KvCache::extend_rows`]): requests that started later join a running decode batch.
    /// Errors (the cache unchanged): the layer counts differ, or a layer's
    /// [`KvCache::check_extend_rows`] fails.
    pub fn extend_rows(&mut self, other: &DecoderCache<B>) -> Result<()> {
        if other.layers.len() != self.layers.len() {
            return Err(BlipError::input(
                "decoder cache",
                format!(
                    "{} layers cannot join a cache of {}",
                    other.layers.len(),
                    self.layers.len()
                ),
            ));
        }
        // Every layer is checked before any changes, so an error leaves the cache as it was.
        for (mine, theirs) in self.layers.iter().zip(&other.layers) {
            mine.check_extend_rows(theirs)?;
        }
        for (mine, theirs) in self.layers.iter_mut().zip(&other.layers) {
            mine.extend_rows(theirs)?;
        }
        Ok(())
    }

    /// Drops the first `n` positions of every row (padding in every running row).
    pub fn drop_front(&mut self, n: usize) -> Result<()> {
        for c in &mut self.layers {
            c.drop_front(n)?;
        }
        Ok(())
    }
}

/// The text decoder with its LM head.
#[derive(Clone, Debug)]
pub struct BlipTextDecoder<B: Backend> {
    word_embeddings: Embedding<B>,
    position_embeddings: Embedding<B>,
    embeddings_norm: LayerNorm<B>,
    layers: Vec<DecoderLayer<B>>,
    transform: Linear<B>,
    transform_act: Activation,
    transform_norm: LayerNorm<B>,
    lm_decoder: Linear<B>,
    max_positions: usize,
}

impl<B: Backend> BlipTextDecoder<B> {
    /// Loads from `w` = `weights.prefix("text_decoder")`. The LM output matrix
    /// `cls.predictions.decoder.weight` is used when the checkpoint stores it, otherwise tied
    /// to the word embeddings; its bias is `cls.predictions.bias` (the tied source).
    pub fn load(w: &Weights<B>, cfg: &BlipConfig) -> Result<Self> {
        let t = &cfg.text_config;
        let (dim, vocab) = (t.hidden_size, t.vocab_size);
        let eps = t.layer_norm_eps as f32;
        let act = activation(&t.hidden_act)?;
        let e = w.prefix("bert.embeddings");
        e.skip("position_ids");
        let word_embeddings = Embedding::load(&e.prefix("word_embeddings"), vocab, dim)?;
        let position_embeddings = Embedding::load(
            &e.prefix("position_embeddings"),
            t.max_position_embeddings,
            dim,
        )?;
        let embeddings_norm = LayerNorm::load(&e.prefix("LayerNorm"), dim, eps)?;
        let mut layers = Vec::with_capacity(t.num_hidden_layers);
        for i in 0..t.num_hidden_layers {
            let l = w.prefix(&format!("bert.encoder.layer.{i}"));
            layers.push(DecoderLayer::load(
                &l,
                dim,
                cfg.encoder_hidden_size(),
                t.num_attention_heads,
                t.intermediate_size,
                act,
                eps,
            )?);
        }
        let p = w.prefix("cls.predictions");
        let transform = Linear::load(&p.prefix("transform.dense"), dim, dim, true)?;
        let transform_norm = LayerNorm::load(&p.prefix("transform.LayerNorm"), dim, eps)?;
        let bias = p.get("bias", &[vocab])?;
        p.skip("decoder.bias");
        let out_weight = match p.get_optional("decoder.weight", &[vocab, dim])? {
            Some(weight) => weight,
            None => word_embeddings.table().clone(),
        };
        Ok(BlipTextDecoder {
            word_embeddings,
            position_embeddings,
            embeddings_norm,
            layers,
            transform,
            transform_act: act,
            transform_norm,
            lm_decoder: Linear::new(out_weight, Some(bias)),
            max_positions: t.max_position_embeddings,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
    pub fn vocab_size(&self) -> usize {
        self.word_embeddings.vocab()
    }
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Cross-attention keys/values of every layer for `image_embeds: [n_images, tokens, enc_dim]`.
    pub fn image_context(&self, image_embeds: &Tensor<B>) -> Result<ImageContext<B>> {
        let n = image_embeds.dims().first().copied().unwrap_or(0);
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let kv = l.cross_attn.image_kv(image_embeds)?;
                (0..n)
                    .map(|i| {
                        Ok(CrossKv {
                            k: kv.k.narrow(0, i, 1)?,
                            v: kv.v.narrow(0, i, 1)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ImageContext { layers })
    }

    /// Runs new tokens `ids: [rows, len]` (`U32`) through the decoder, appending to `cache`;
    /// returns the last layer's hidden states `[rows, len, dim]`. Rows are grouped by image.
    pub fn forward_hidden(
        &self,
        ids: &Tensor<B>,
        groups: &[RowGroup],
        ctx: &ImageContext<B>,
        cache: &mut DecoderCache<B>,
    ) -> Result<Tensor<B>> {
        self.forward_rows(ids, None, groups, ctx, cache)
    }

    /// [`BlipTextDecoder::forward_hidden`] for a batch whose rows started at different steps
    /// (continuous batching): row `r`'s cached positions begin at cache column `starts[r]`
    /// (the columns before it are padding, see [`KvCache::extend_rows`]). Each row's position
    /// ids count from its own start and its padding is masked, so a row's hidden states are
    /// those it would have alone (up to summation order). Errors: `starts` does not have one
    /// entry per row, or an entry exceeds the cached length.
    pub fn forward_hidden_ragged(
        &self,
        ids: &Tensor<B>,
        starts: &[usize],
        groups: &[RowGroup],
        ctx: &ImageContext<B>,
        cache: &mut DecoderCache<B>,
    ) -> Result<Tensor<B>> {
        self.forward_rows(ids, Some(starts), groups, ctx, cache)
    }

    fn forward_rows(
        &self,
        ids: &Tensor<B>,
        starts: Option<&[usize]>,
        groups: &[RowGroup],
        ctx: &ImageContext<B>,
        cache: &mut DecoderCache<B>,
    ) -> Result<Tensor<B>> {
        if ids.rank() != 2 {
            return Err(BlipError::input(
                "decoder ids",
                format!("expected [rows, len], got {:?}", ids.dims()),
            ));
        }
        if cache.layers.len() != self.layers.len() {
            return Err(BlipError::input(
                "decoder cache",
                format!(
                    "{} layers, the decoder has {}",
                    cache.layers.len(),
                    self.layers.len()
                ),
            ));
        }
        let (rows, past, len) = (ids.dims()[0], cache.len(), ids.dims()[1]);
        if let Some(s) = starts {
            if s.len() != rows || s.iter().any(|&x| x > past) {
                return Err(BlipError::input(
                    "decoder row starts",
                    format!(
                        "{} starts for {rows} rows over {past} cached positions",
                        s.len()
                    ),
                ));
            }
        }
        // All rows starting at column 0 is the plain batch: no mask, one position range.
        let starts = starts.filter(|s| s.iter().any(|&x| x > 0));
        let first = starts.and_then(|s| s.iter().min().copied()).unwrap_or(0);
        if past + len - first > self.max_positions {
            return Err(BlipError::input(
                "decoder ids",
                format!(
                    "{} positions exceed max_position_embeddings {}",
                    past + len - first,
                    self.max_positions
                ),
            ));
        }
        let backend = ids.backend();
        let (positions, mask) = match starts {
            None => (self.position_embeddings.table().narrow(0, past, len)?, None),
            Some(s) => {
                let pos: Vec<u32> = s
                    .iter()
                    .flat_map(|&st| (past - st..past - st + len).map(|p| p as u32))
                    .collect();
                let pos = Tensor::from_slice(backend, &pos, &[rows, len])?;
                let keys = past + len;
                let attended: Vec<u32> = s
                    .iter()
                    .flat_map(|&st| (0..keys).map(move |c| u32::from(c >= st)))
                    .collect();
                let mask = padding_mask(
                    backend,
                    &attended,
                    rows,
                    keys,
                    self.word_embeddings.table().dtype(),
                )?;
                (self.position_embeddings.forward(&pos)?, Some(mask))
            }
        };
        let mut x = self
            .embeddings_norm
            .forward(&self.word_embeddings.forward(ids)?.add(&positions)?)?;
        for (layer, (kv_cache, cross_kv)) in self
            .layers
            .iter()
            .zip(cache.layers.iter_mut().zip(&ctx.layers))
        {
            let a = layer
                .self_attn
                .forward_cached(&x, mask.as_ref(), kv_cache)?;
            x = layer.self_norm.forward_residual(&a, &x)?.1;
            let c = layer.cross_attn.forward(&x, groups, cross_kv)?;
            x = layer.cross_norm.forward_residual(&c, &x)?.1;
            let m = layer.mlp.forward(&x)?;
            x = layer.mlp_norm.forward_residual(&m, &x)?.1;
        }
        Ok(x)
    }

    /// The LM head on hidden states `[.., dim]` → logits `[.., vocab]`.
    pub fn lm_head(&self, hidden: &Tensor<B>) -> Result<Tensor<B>> {
        let h = self
            .transform
            .forward_act(hidden, Some(self.transform_act))?;
        let h = self.transform_norm.forward(&h)?;
        Ok(self.lm_decoder.forward(&h)?)
    }

    /// One decoding step: logits `[rows, vocab]` of the last new position of every row.
    pub fn step(
        &self,
        ids: &Tensor<B>,
        groups: &[RowGroup],
        ctx: &ImageContext<B>,
        cache: &mut DecoderCache<B>,
    ) -> Result<Tensor<B>> {
        let hidden = self.forward_hidden(ids, groups, ctx, cache)?;
        self.last_logits(&hidden)
    }

    /// [`BlipTextDecoder::step`] for rows that started at different steps (see
    /// [`BlipTextDecoder::forward_hidden_ragged`]).
    pub fn step_ragged(
        &self,
        ids: &Tensor<B>,
        starts: &[usize],
        groups: &[RowGroup],
        ctx: &ImageContext<B>,
        cache: &mut DecoderCache<B>,
    ) -> Result<Tensor<B>> {
        let hidden = self.forward_hidden_ragged(ids, starts, groups, ctx, cache)?;
        self.last_logits(&hidden)
    }

    /// Logits `[rows, vocab]` of the last position of `hidden: [rows, len, dim]`.
    fn last_logits(&self, hidden: &Tensor<B>) -> Result<Tensor<B>> {
        let len = hidden.dims()[1];
        if len == 0 {
            return Err(BlipError::input("decoder ids", "no new positions"));
        }
        let last = hidden.narrow(1, len - 1, 1)?.squeeze(1)?;
        self.lm_head(&last)
    }
}
