//! Additive attention masks built from padding masks.

use crate::error::{NnError, Result};
use tandem_tensor::{bf16, f16, Backend, DType, Tensor};

/// The most negative finite value of `dtype`: what `transformers` adds for a masked key
/// (`torch.finfo(dtype).min`). Finite, so a row is never all `-inf`.
pub fn mask_value(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => f16::MIN.to_f64(),
        DType::BF16 => bf16::MIN.to_f64(),
        _ => f32::MIN as f64,
    }
}

/// An additive mask `[batch, 1, 1, len]` from a row-major `[batch, len]` padding mask
/// (1 = real token, 0 = padding): 0 where attended, [`mask_value`] where masked.
pub fn padding_mask<B: Backend>(
    backend: &B,
    mask: &[u32],
    batch: usize,
    len: usize,
    dtype: DType,
) -> Result<Tensor<B>> {
    if mask.len() != batch * len {
        return Err(NnError::input(
            "attention mask",
            format!("{} entries for [{batch}, {len}]", mask.len()),
        ));
    }
    let min = mask_value(dtype) as f32;
    let values: Vec<f32> = mask
        .iter()
        .map(|&m| if m == 0 { min } else { 0.0 })
        .collect();
    Ok(Tensor::from_slice(backend, &values, &[batch, 1, 1, len])?.to_dtype(dtype)?)
}
