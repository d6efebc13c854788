//! `Linear`: PyTorch's `nn.Linear` (`y = x·Wᵀ + b`, weight `[out, in]`).

use crate::error::{NnError, Result};
use crate::weights::Weights;
use tandem_tensor::{Activation, Backend, DType, PackedRhs, Tensor};

/// A dense layer with the Hugging Face layout: `weight: [out, in]`, optional `bias: [out]`.
///
/// The weight is prepared once, when the layer is built, for the backend's fastest product,
/// and that form replaces the original rather than adding to it:
/// - **packed** into column panels ([`PackedRhs`]) where the backend has a kernel for them
///   ([`Backend::panel_layout`]: the CPU in f32, and in bf16 where it has AVX512-BF16) and the
///   layer has at least one panel's width of
///   outputs. A decoder step multiplies a few dozen rows by every weight of the model; without
///   packing, the GEMM copies each weight into panels on every call. Padding to whole panels
///   adds under one panel of columns (under 1 % of BLIP's and CLIP's layers);
/// - else **transposed** into a contiguous `[in, out]`: GEMM kernels run markedly faster on a
///   row-major right-hand side than on a transposed view when the left side has few rows;
/// - else **as stored** where the backend's kernels read `[out, in]` as well
///   ([`Backend::linear_weight_as_stored`]: the CPU's bf16 where it packs none: without
///   AVX512-BF16, or with `TANDEM_CPU_BF16_PANELS=off` or `TANDEM_CPU_BF16_GEMM=f32`).
///
/// An activation can be fused into the matmul epilogue.
#[derive(Clone, Debug)]
pub struct Linear<B: Backend> {
    weight: Weight<B>,
    bias: Option<Tensor<B>>,
}

/// The form a [`Linear`] keeps its weight in.
#[derive(Clone, Debug)]
enum Weight<B: Backend> {
    /// `Wᵀ` (`[in, out]`) in column panels.
    Packed(PackedRhs<B>),
    /// `Wᵀ`, contiguous `[in, out]`.
    Transposed(Tensor<B>),
    /// `W` as given (`[out, in]`; any rank, reported by the first `forward`).
    AsStored(Tensor<B>),
}

impl<B: Backend> Linear<B> {
    /// From a `[out, in]` weight (and `[out]` bias). A weight of another rank is kept as given
    /// and reported by the first `forward`; so is one the backend fails to pack or copy.
    pub fn new(weight: Tensor<B>, bias: Option<Tensor<B>>) -> Self {
        let weight = match weight.transpose(0, 1) {
            Ok(wt) if weight.rank() == 2 => {
                let packed = match weight.backend().panel_layout(weight.dtype()) {
                    // Panels pad the columns to a whole panel: a layer narrower than one panel
                    // (a 1-output head) would multiply mostly zeros, so it stays a matrix.
                    Some(layout) if weight.dims()[0] >= layout.width => {
                        PackedRhs::with_layout(&wt, layout).ok()
                    }
                    _ => None,
                };
                match packed {
                    Some(packed) => Weight::Packed(packed),
                    None if weight.backend().linear_weight_as_stored(weight.dtype()) => {
                        Weight::AsStored(weight)
                    }
                    None => match wt.contiguous() {
                        Ok(wt) => Weight::Transposed(wt),
                        Err(_) => Weight::AsStored(weight),
                    },
                }
            }
            _ => Weight::AsStored(weight),
        };
        Linear { weight, bias }
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

    /// `act(x·Wᵀ + b)` for `x` `[..., in]` → `[..., out]`, in one fused kernel where the
    /// backend has one.
    ///
    /// # Errors
    /// [`NnError`] naming `linear` when `x` is a scalar or does not end in `in`; the
    /// backend's errors.
    pub fn forward_act(&self, x: &Tensor<B>, act: Option<Activation>) -> Result<Tensor<B>> {
        match &self.weight {
            Weight::AsStored(w) => Ok(x.linear(w, self.bias.as_ref(), act)?),
            Weight::Packed(p) => {
                self.input_lead(x)?;
                Ok(x.matmul_packed(p, self.bias.as_ref(), act)?)
            }
            Weight::Transposed(wt) => {
                let lead = self.input_lead(x)?;
                let rows: usize = lead.iter().product();
                let y =
                    x.reshape(&[rows, self.in_dim()])?
                        .matmul_fused(wt, self.bias.as_ref(), act)?;
                let mut dims = lead.to_vec();
                dims.push(self.out_dim());
                Ok(y.reshape(&dims)?)
            }
        }
    }

    /// The dims of `x` before its last, which must be `in`.
    fn input_lead<'x>(&self, x: &'x Tensor<B>) -> Result<&'x [usize]> {
        let Some((&last, lead)) = x.dims().split_last() else {
            return Err(NnError::input("linear", "input is a scalar"));
        };
        if last != self.in_dim() {
            return Err(NnError::input(
                "linear",
                format!("input {:?} does not end in {}", x.dims(), self.in_dim()),
            ));
        }
        Ok(lead)
    }

    /// The weight as `[out, in]`: a view, or (for a packed weight) an unpacked copy.
    ///
    /// # Errors
    /// The backend's, from unpacking.
    pub fn weight(&self) -> Result<Tensor<B>> {
        Ok(match &self.weight {
            Weight::Packed(p) => p.unpack()?.transpose(0, 1)?,
            Weight::Transposed(wt) => wt.transpose(0, 1)?,
            Weight::AsStored(w) => w.clone(),
        })
    }
    pub fn bias(&self) -> Option<&Tensor<B>> {
        self.bias.as_ref()
    }
    /// Whether the weight is packed into column panels ([`PackedRhs`]).
    pub fn is_packed(&self) -> bool {
        matches!(self.weight, Weight::Packed(_))
    }
    pub fn dtype(&self) -> DType {
        match &self.weight {
            Weight::Packed(p) => p.dtype(),
            Weight::Transposed(w) | Weight::AsStored(w) => w.dtype(),
        }
    }
    pub fn backend(&self) -> &B {
        match &self.weight {
            Weight::Packed(p) => p.backend(),
            Weight::Transposed(w) | Weight::AsStored(w) => w.backend(),
        }
    }
    pub fn in_dim(&self) -> usize {
        match &self.weight {
            Weight::Packed(p) => p.k(),
            Weight::Transposed(wt) => wt.dims()[0],
            Weight::AsStored(w) => w.dims().get(1).copied().unwrap_or(0),
        }
    }
    pub fn out_dim(&self) -> usize {
        match &self.weight {
            Weight::Packed(p) => p.n(),
            Weight::Transposed(wt) => wt.dims()[1],
            Weight::AsStored(w) => w.dims().first().copied().unwrap_or(0),
        }
    }
}
