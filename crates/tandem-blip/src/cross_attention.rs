//! Cross-attention from caption tokens to image tokens, with the image side computed once.
//!
//! The keys and values of every layer are projected from the image tokens once per image
//! ([`ImageContext`]) and then reused by every sequence of that image and every decoding step.
//! Rows of a decode batch are grouped by image (contiguous rows per image); the queries of one
//! image's rows are folded into the query length, so each image's keys/values (batch 1) serve
//! all of its sequences in one attention call, and projections still run once over the batch.

use crate::error::{BlipError, Result};
use tandem_nn::{CrossKv, Linear, Weights};
use tandem_tensor::{attention, AttentionSpec, Backend, Tensor};

/// Contiguous rows of a decode batch that belong to one image: `(image index, row count)`.
pub type RowGroup = (usize, usize);

#[derive(Clone, Debug)]
pub struct CrossAttention<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    out: Linear<B>,
    heads: usize,
    head_dim: usize,
}

impl<B: Backend> CrossAttention<B> {
    /// BERT names under `crossattention`: `self.{query,key,value}`, `output.dense`.
    pub fn load(w: &Weights<B>, dim: usize, encoder_dim: usize, heads: usize) -> Result<Self> {
        Ok(CrossAttention {
            query: Linear::load(&w.prefix("self.query"), dim, dim, true)?,
            key: Linear::load(&w.prefix("self.key"), encoder_dim, dim, true)?,
            value: Linear::load(&w.prefix("self.value"), encoder_dim, dim, true)?,
            out: Linear::load(&w.prefix("output.dense"), dim, dim, true)?,
            heads,
            head_dim: dim / heads,
        })
    }

    /// Keys and values `[n_images, h, tokens, d]` of image tokens `[n_images, tokens, enc_dim]`.
    pub fn image_kv(&self, image: &Tensor<B>) -> Result<CrossKv<B>> {
        let (n, t) = (image.dims()[0], image.dims()[1]);
        let split = |x: Tensor<B>| -> Result<Tensor<B>> {
            Ok(x.reshape(&[n, t, self.heads, self.head_dim])?
                .permute(&[0, 2, 1, 3])?
                .contiguous()?)
        };
        Ok(CrossKv {
            k: split(self.key.forward(image)?)?,
            v: split(self.value.forward(image)?)?,
        })
    }

    /// `x: [rows, len, dim]`, rows grouped by image as `groups` says; `kv[i]` holds image `i`'s
    /// keys and values `[1, h, tokens, d]`.
    pub fn forward(
        &self,
        x: &Tensor<B>,
        groups: &[RowGroup],
        kv: &[CrossKv<B>],
    ) -> Result<Tensor<B>> {
        let (rows, len, dim) = (x.dims()[0], x.dims()[1], x.dims()[2]);
        let (h, d) = (self.heads, self.head_dim);
        let q = self.query.forward(x)?; // [rows, len, dim], contiguous
        let spec = AttentionSpec {
            scale: (d as f32).powf(-0.5),
            causal: false,
        };
        let mut parts = Vec::with_capacity(groups.len());
        let mut start = 0;
        for &(image, count) in groups {
            let Some(image_kv) = kv.get(image).filter(|_| start + count <= rows) else {
                return Err(BlipError::input(
                    "row groups",
                    format!(
                        "group ({image}, {count}) does not fit {rows} rows / {} images",
                        kv.len()
                    ),
                ));
            };
            // [count, len, h, d] → [1, count·len, h, d] → [1, h, count·len, d]
            let qi = q
                .narrow(0, start, count)?
                .reshape(&[1, count * len, h, d])?
                .permute(&[0, 2, 1, 3])?;
            let ctx = attention(&qi, &image_kv.k, &image_kv.v, None, spec)?;
            parts.push(
                ctx.permute(&[0, 2, 1, 3])?
                    .contiguous()?
                    .reshape(&[count, len, dim])?,
            );
            start += count;
        }
        if start != rows {
            return Err(BlipError::input(
                "row groups",
                format!("groups cover {start} of {rows} rows"),
            ));
        }
        let merged = if parts.len() == 1 {
            parts
                .pop()
                .ok_or_else(|| BlipError::input("row groups", "empty"))?
        } else {
            let refs: Vec<&Tensor<B>> = parts.iter().collect();
            Tensor::cat(&refs, 0)?
        };
        Ok(self.out.forward(&merged)?)
    }
}
