use crate::op::AttentionSpec;
use crate::{Backend, DType, Error, Result, Tensor};

/// Additive causal mask `[lq, lk]` for queries at absolute positions `lk - lq ..< lk`.
pub(crate) fn causal_mask<B: Backend>(
    dims: &[usize],
    dtype: DType,
    backend: &B,
) -> Result<Tensor<B>> {
    let r = dims.len();
    if r < 2 {
        return Err(Error::RankMismatch {
            op: "causal softmax",
            expected: 2,
            shape: dims.to_vec(),
        });
    }
    let (lq, lk) = (dims[r - 2], dims[r - 1]);
    if lq > lk {
        return Err(Error::invalid(
            "causal softmax",
            format!("{lq} queries but only {lk} keys"),
        ));
    }
    let first = lk - lq;
    let data: Vec<f32> = (0..lq)
        .flat_map(|i| {
            (0..lk).map(move |j| {
                if j > first + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_slice(backend, &data, &[lq, lk])?.to_dtype(dtype)
}

impl<B: Backend> Tensor<B> {
    /// Softmax over the last dim after adding an optional additive `mask` (broadcastable to
    /// `self`) and, with `causal`, masking keys after each query's position.
    pub fn softmax(&self, mask: Option<&Self>, causal: bool) -> Result<Self> {
        self.check_float("softmax")?;
        if self.rank() == 0 {
            return Err(Error::RankMismatch {
                op: "softmax",
                expected: 1,
                shape: vec![],
            });
        }
        if causal {
            let r = self.rank();
            if r < 2 || self.dims()[r - 2] > self.dims()[r - 1] {
                return Err(Error::invalid(
                    "softmax",
                    format!("causal mask needs queries ≤ keys, got {:?}", self.dims()),
                ));
            }
        }
        let mask = match mask {
            Some(m) => {
                self.check_same_dtype("softmax mask", m)?;
                Some(m.broadcast_as(self.dims())?)
            }
            None => None,
        };
        let x = self.contiguous()?;
        self.backend().softmax_last(&x, mask.as_ref(), causal)
    }

    pub fn log_softmax(&self) -> Result<Self> {
        self.check_float("log_softmax")?;
        if self.rank() == 0 {
            return Err(Error::RankMismatch {
                op: "log_softmax",
                expected: 1,
                shape: vec![],
            });
        }
        self.backend().log_softmax_last(&self.contiguous()?)
    }

    /// Layer norm over the last dim with learned `gamma`/`beta` of that size.
    pub fn layer_norm(&self, gamma: &Self, beta: &Self, eps: f32) -> Result<Self> {
        self.check_layer_norm_params("layer_norm", gamma, beta)?;
        self.backend().layer_norm(
            &self.contiguous()?,
            &gamma.contiguous()?,
            &beta.contiguous()?,
            eps,
        )
    }

    /// `(self + residual, layer_norm(self + residual))` in one call: the residual add and the
    /// layer norm after it in a transformer block (`transformers`' `hidden_states + residual`
    /// then `LayerNorm`), fused where the backend can (see [`Backend::add_layer_norm`]).
    /// `self`, `residual`: `[.., n]`, equal dims and dtype (no broadcasting: both are the
    /// residual stream); `gamma`, `beta`: `[n]`. Returns the sum and the normalised sum, both
    /// `[.., n]`; the sum is exactly `self.add(residual)` and the second output exactly its
    /// `layer_norm`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for unequal dims or parameters not `[n]`, [`Error::DTypeMismatch`]
    /// for mixed dtypes, an error for integer tensors or rank 0.
    pub fn add_layer_norm(
        &self,
        residual: &Self,
        gamma: &Self,
        beta: &Self,
        eps: f32,
    ) -> Result<(Self, Self)> {
        self.check_same_dtype("add_layer_norm", residual)?;
        if self.dims() != residual.dims() {
            return Err(Error::ShapeMismatch {
                op: "add_layer_norm",
                lhs: self.dims().to_vec(),
                rhs: residual.dims().to_vec(),
            });
        }
        self.check_layer_norm_params("add_layer_norm", gamma, beta)?;
        self.backend().add_layer_norm(
            &self.contiguous()?,
            &residual.contiguous()?,
            &gamma.contiguous()?,
            &beta.contiguous()?,
            eps,
        )
    }

    /// A float tensor of rank ≥ 1 whose `gamma`/`beta` are `[last dim]` of its dtype.
    fn check_layer_norm_params(&self, op: &'static str, gamma: &Self, beta: &Self) -> Result<()> {
        self.check_float(op)?;
        self.check_same_dtype(op, gamma)?;
        self.check_same_dtype(op, beta)?;
        let n = *self.dims().last().ok_or(Error::RankMismatch {
            op,
            expected: 1,
            shape: vec![],
        })?;
        for p in [gamma, beta] {
            if p.dims() != [n] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: self.dims().to_vec(),
                    rhs: p.dims().to_vec(),
                });
            }
        }
        Ok(())
    }

    /// `x / max(‖x‖₂, eps)` over the last dim.
    pub fn l2_normalize(&self, eps: f32) -> Result<Self> {
        self.check_float("l2_normalize")?;
        self.backend().l2_normalize(&self.contiguous()?, eps)
    }

    /// Patch embedding of a ViT: a conv2d with stride == kernel == `patch`, as an im2col view and
    /// one matmul. `pixels: [b, c, h, w]`, `weight: [d, c, p, p]`, `bias: [d]` → `[b, (h/p)·(w/p), d]`.
    pub fn patch_embed(&self, weight: &Self, bias: Option<&Self>) -> Result<Self> {
        let op = "patch_embed";
        if self.rank() != 4 || weight.rank() != 4 {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.dims().to_vec(),
                rhs: weight.dims().to_vec(),
            });
        }
        let (b, c, h, w) = (
            self.dims()[0],
            self.dims()[1],
            self.dims()[2],
            self.dims()[3],
        );
        let (d, wc, p, p2) = (
            weight.dims()[0],
            weight.dims()[1],
            weight.dims()[2],
            weight.dims()[3],
        );
        if wc != c || p != p2 || p == 0 || h % p != 0 || w % p != 0 {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.dims().to_vec(),
                rhs: weight.dims().to_vec(),
            });
        }
        let (gh, gw) = (h / p, w / p);
        let cols = self
            .reshape(&[b, c, gh, p, gw, p])?
            .permute(&[0, 2, 4, 1, 3, 5])?
            .reshape(&[b * gh * gw, c * p * p])?;
        let y = cols.linear(&weight.reshape(&[d, c * p * p])?, bias, None)?;
        y.reshape(&[b, gh * gw, d])
    }
}

/// Scaled dot-product attention: `softmax(q·kᵀ·scale + mask [+ causal]) · v`.
///
/// `q: [b, h, lq, d]`, `k: [b', h, lk, d]`, `v: [b', h, lk, dv]` where `b'` is `b` or 1 (one set
/// of keys/values shared by every query batch entry, e.g. cross-attention to one image).
/// `mask` is additive and broadcastable to `[b, h, lq, lk]`. Views (a KV cache narrowed to its
/// filled length, heads permuted out of `[b, l, h, d]`) are used as they are, without copies,
/// as long as the last dim is contiguous.
pub fn attention<B: Backend>(
    q: &Tensor<B>,
    k: &Tensor<B>,
    v: &Tensor<B>,
    mask: Option<&Tensor<B>>,
    spec: AttentionSpec,
) -> Result<Tensor<B>> {
    let op = "attention";
    for t in [k, v] {
        q.check_same_device(op, t)?;
        q.check_same_dtype(op, t)?;
    }
    q.check_float(op)?;
    for t in [q, k, v] {
        if t.rank() != 4 {
            return Err(Error::RankMismatch {
                op,
                expected: 4,
                shape: t.dims().to_vec(),
            });
        }
    }
    let (b, h, lq, d) = (q.dims()[0], q.dims()[1], q.dims()[2], q.dims()[3]);
    let (lk, dv) = (k.dims()[2], v.dims()[3]);
    let kv_ok = |t: &Tensor<B>, last: usize| {
        (t.dims()[0] == b || t.dims()[0] == 1)
            && t.dims()[1] == h
            && t.dims()[2] == lk
            && t.dims()[3] == last
    };
    if !kv_ok(k, d) || !kv_ok(v, dv) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: q.dims().to_vec(),
            rhs: k.dims().to_vec(),
        });
    }
    if lk == 0 {
        return Err(Error::invalid(op, "attention over zero keys"));
    }
    if spec.causal && lq > lk {
        return Err(Error::invalid(
            op,
            format!("causal attention with {lq} queries but {lk} keys"),
        ));
    }
    let last_contiguous = |t: &Tensor<B>| -> Result<Tensor<B>> {
        if t.layout().strides()[3] == 1 || t.dims()[3] == 1 {
            Ok(t.clone())
        } else {
            t.contiguous()
        }
    };
    let q = last_contiguous(q)?;
    let k = last_contiguous(&k.broadcast_as(&[b, h, lk, d])?)?;
    let v = last_contiguous(&v.broadcast_as(&[b, h, lk, dv])?)?;
    let mask = match mask {
        Some(m) => {
            q.check_same_dtype("attention mask", m)?;
            Some(m.broadcast_as(&[b, h, lq, lk])?)
        }
        None => None,
    };
    q.backend().attention(&q, &k, &v, mask.as_ref(), spec)
}
