//! `Linear`: PyTorch's `nn.Linear` (`y = x·Wᵀ + b`, weight `[out, in]`).

use crate::error::{NnError, Result};
use crate::weights::Weights;
use tandem_tensor::{Activation, Backend, Tensor};

/// A dense layer with the Hugging Face layout: `weight: [out, in]`, optional `bias: [out]`.
///
/// The weight is transposed once, when the layer is built, into a contiguous `[in, out]`
/// matrix: GEMM kernels run markedly faster on a row-major right-hand side than on a
/// transposed view when the left side has few rows (a ViT at batch 1, a decoder step), and the
/// copy replaces the original rather than adding to it. Unless the backend says its kernels
/// read the stored `[out, in]` as well (`Backend::linear_weight_as_stored`: the CPU's bf16). An activation can be fused into the
/// matmul epilogue.
#[derive(Clone, Debug)]
pub struct Linear<B: Backend> {
    /// `[out, in]`; a transposed view of `weight_t` when that exists.
    weight: Tensor<B>,
    /// Contiguous `[in, out]`.
    weight_t: Option<Tensor<B>>,
    bias: Option<Tensor<B>>,
}

impl<B: Backend> Linear<B> {
    /// From a `[out, in]` weight (and `[out]` bias). A weight of another rank is kept as given
    /// and reported by the first `forward`.
    pub fn new(weight: Tensor<B>, bias: Option<Tensor<B>>) -> Self {
        let keep = weight.backend().linear_weight_as_stored(weight.dtype());
        let weight_t = if weight.rank() == 2 && !keep {
            weight.transpose(0, 1).and_then(|t| t.contiguous()).ok()
        } else {
            None
        };
        match weight_t {
            Some(wt) => match wt.transpose(0, 1) {
                Ok(view) => Linear {
                    weight: view,
                    weight_t: Some(wt),
                    bias,
                },
                Err(_) => Linear {
                    weight,
                    weight_t: None,
                    bias,
                },
            },
            None => Linear {
                weight,
                weight_t: None,
                bias,
            },
        }
    }

    /// Loads `weight` `[out, in]` and, when `bias`, `bias` `[out]`.
    pub fn load(w: &Weights<B>, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = w.get("weight", &[out_dim, in_dim])?;
        let bias = if bias {
            Some(w.get("bias", &[out_dim])?)
        } else {
            None
        };
        Ok(Linear::new(weight, bias))
    }

    pub fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        self.forward_act(x, None)
    }

    /// `act(x·Wᵀ + b)` in one fused kernel where the backend has one.
    pub fn forward_act(&self, x: &Tensor<B>, act: Option<Activation>) -> Result<Tensor<B>> {
        let Some(wt) = &self.weight_t else {
            return Ok(x.linear(&self.weight, self.bias.as_ref(), act)?);
        };
        let (inp, out) = (wt.dims()[0], wt.dims()[1]);
        let Some((&last, lead)) = x.dims().split_last() else {
            return Err(NnError::input("linear", "input is a scalar"));
        };
        if last != inp {
            return Err(NnError::input(
                "linear",
                format!("input {:?} does not end in {inp}", x.dims()),
            ));
        }
        let rows: usize = lead.iter().product();
        let y = x
            .reshape(&[rows, inp])?
            .matmul_fused(wt, self.bias.as_ref(), act)?;
        let mut dims = lead.to_vec();
        dims.push(out);
        Ok(y.reshape(&dims)?)
    }

    /// The weight as `[out, in]` (a view).
    pub fn weight(&self) -> &Tensor<B> {
        &self.weight
    }
    pub fn bias(&self) -> Option<&Tensor<B>> {
        self.bias.as_ref()
    }
    pub fn in_dim(&self) -> usize {
        self.weight.dims().get(1).copied().unwrap_or(0)
    }
    pub fn out_dim(&self) -> usize {
        self.weight.dims().first().copied().unwrap_or(0)
    }
}
