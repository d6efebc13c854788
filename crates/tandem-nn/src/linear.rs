//! `Linear`: PyTorch's `nn.Linear` (`y = x·Wᵀ + b`, weight `[out, in]`).

use crate::error::Result;
use crate::weights::Weights;
use tandem_tensor::{Activation, Backend, Tensor};

/// A dense layer with the Hugging Face layout: `weight: [out, in]`, optional `bias: [out]`.
/// The weight is used in place through a transposed view; an activation can be fused into the
/// matmul epilogue.
#[derive(Clone, Debug)]
pub struct Linear<B: Backend> {
    weight: Tensor<B>,
    bias: Option<Tensor<B>>,
}

impl<B: Backend> Linear<B> {
    pub fn new(weight: Tensor<B>, bias: Option<Tensor<B>>) -> Self {
        Linear { weight, bias }
    }

    /// Loads `weight` `[out, in]` and, when `bias`, `bias` `[out]`.
    pub fn load(w: &Weights<B>, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = w.get("weight", &[out_dim, in_dim])?;
        let bias = if bias { Some(w.get("bias", &[out_dim])?) } else { None };
        Ok(Linear { weight, bias })
    }

    pub fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        self.forward_act(x, None)
    }

    /// `act(x·Wᵀ + b)` in one fused kernel where the backend has one.
    pub fn forward_act(&self, x: &Tensor<B>, act: Option<Activation>) -> Result<Tensor<B>> {
        Ok(x.linear(&self.weight, self.bias.as_ref(), act)?)
    }

    pub fn weight(&self) -> &Tensor<B> {
        &self.weight
    }
    pub fn bias(&self) -> Option<&Tensor<B>> {
        self.bias.as_ref()
    }
    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
}
