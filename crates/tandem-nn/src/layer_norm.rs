//! `LayerNorm` over the last dimension (PyTorch semantics: biased variance, eps inside the sqrt).

use crate::error::Result;
use crate::weights::Weights;
use tandem_tensor::{Backend, Tensor};

#[derive(Clone, Debug)]
pub struct LayerNorm<B: Backend> {
    gamma: Tensor<B>,
    beta: Tensor<B>,
    eps: f32,
}

impl<B: Backend> LayerNorm<B> {
    pub fn new(gamma: Tensor<B>, beta: Tensor<B>, eps: f32) -> Self {
        LayerNorm { gamma, beta, eps }
    }

    /// Loads `weight` and `bias`, both `[dim]`.
    pub fn load(w: &Weights<B>, dim: usize, eps: f32) -> Result<Self> {
        Ok(LayerNorm {
            gamma: w.get("weight", &[dim])?,
            beta: w.get("bias", &[dim])?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        Ok(x.layer_norm(&self.gamma, &self.beta, self.eps)?)
    }

    /// The residual connection and this norm in one fused op: returns `(x + residual,
    /// norm(x + residual))`, both `[.., dim]` (see [`Tensor::add_layer_norm`]). Pre-LN blocks
    /// carry the sum on; post-LN blocks (BERT's `BertSelfOutput`: `LayerNorm(hidden + input)`)
    /// keep only the second.
    pub fn forward_residual(
        &self,
        x: &Tensor<B>,
        residual: &Tensor<B>,
    ) -> Result<(Tensor<B>, Tensor<B>)> {
        Ok(x.add_layer_norm(residual, &self.gamma, &self.beta, self.eps)?)
    }

    pub fn eps(&self) -> f32 {
        self.eps
    }
}
