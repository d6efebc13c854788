//! `Mlp`: the transformer feed-forward `fc2(act(fc1(x)))`, with the activation fused into fc1.

use crate::error::{NnError, Result};
use crate::linear::Linear;
use crate::weights::Weights;
use tandem_tensor::{Activation, Backend, Tensor};

#[derive(Clone, Debug)]
pub struct Mlp<B: Backend> {
    fc1: Linear<B>,
    fc2: Linear<B>,
    act: Activation,
}

/// Parses a Hugging Face `hidden_act` string, as a configuration error when unknown.
pub fn activation(name: &str) -> Result<Activation> {
    Activation::from_hf(name)
        .ok_or_else(|| NnError::config("hidden_act", format!("unsupported activation `{name}`")))
}

impl<B: Backend> Mlp<B> {
    pub fn new(fc1: Linear<B>, fc2: Linear<B>, act: Activation) -> Self {
        Mlp { fc1, fc2, act }
    }

    /// Loads `fc1` `[hidden, dim]` and `fc2` `[dim, hidden]` with biases (CLIP, BLIP, ViT names).
    pub fn load(w: &Weights<B>, dim: usize, hidden: usize, act: Activation) -> Result<Self> {
        Ok(Mlp {
            fc1: Linear::load(&w.prefix("fc1"), dim, hidden, true)?,
            fc2: Linear::load(&w.prefix("fc2"), hidden, dim, true)?,
            act,
        })
    }

    pub fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let h = self.fc1.forward_act(x, Some(self.act))?;
        self.fc2.forward(&h)
    }
}
