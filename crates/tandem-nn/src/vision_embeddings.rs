//! ViT input embeddings: patch embedding (a strided conv as one matmul), a class token in
//! front, and learned position embeddings.

use crate::error::{NnError, Result};
use crate::weights::Weights;
use tandem_tensor::{Backend, Tensor};

#[derive(Clone, Debug)]
pub struct VisionEmbeddings<B: Backend> {
    /// `[dim, channels, patch, patch]`.
    patch_weight: Tensor<B>,
    patch_bias: Option<Tensor<B>>,
    /// `[1, 1, dim]`.
    class_embedding: Tensor<B>,
    /// `[1, patches + 1, dim]`.
    position: Tensor<B>,
    image_size: usize,
}

impl<B: Backend> VisionEmbeddings<B> {
    /// From parts in any of the Hugging Face layouts: the class embedding holds `dim` values
    /// (`[dim]` in CLIP, `[1, 1, dim]` in BLIP), the position table `(patches + 1)·dim`
    /// (`[n + 1, dim]` or `[1, n + 1, dim]`).
    pub fn new(
        patch_weight: Tensor<B>,
        patch_bias: Option<Tensor<B>>,
        class_embedding: Tensor<B>,
        position: Tensor<B>,
        image_size: usize,
    ) -> Result<Self> {
        if patch_weight.rank() != 4 || patch_weight.dims()[2] != patch_weight.dims()[3] {
            return Err(NnError::config(
                "patch_embedding",
                format!("weight shape {:?} is not [d, c, p, p]", patch_weight.dims()),
            ));
        }
        let (dim, patch) = (patch_weight.dims()[0], patch_weight.dims()[2]);
        if patch == 0 || !image_size.is_multiple_of(patch) {
            return Err(NnError::config(
                "patch_size",
                format!("image size {image_size} is not a multiple of patch {patch}"),
            ));
        }
        let n = (image_size / patch).pow(2) + 1;
        if class_embedding.elem_count() != dim || position.elem_count() != n * dim {
            return Err(NnError::config(
                "vision embeddings",
                format!(
                    "class {:?} / position {:?} do not fit dim {dim} and {n} positions",
                    class_embedding.dims(),
                    position.dims()
                ),
            ));
        }
        Ok(VisionEmbeddings {
            patch_weight,
            patch_bias,
            class_embedding: class_embedding.reshape(&[1, 1, dim])?,
            position: position.reshape(&[1, n, dim])?,
            image_size,
        })
    }

    /// CLIP names: `class_embedding [d]`, `patch_embedding.weight [d, c, p, p]` (no bias),
    /// `position_embedding.weight [n + 1, d]`; the `position_ids` buffer of older checkpoints
    /// is recomputed, not loaded.
    pub fn load_clip(
        w: &Weights<B>,
        channels: usize,
        image_size: usize,
        patch: usize,
        dim: usize,
    ) -> Result<Self> {
        if patch == 0 || !image_size.is_multiple_of(patch) {
            return Err(NnError::config(
                "patch_size",
                format!("image size {image_size} is not a multiple of patch {patch}"),
            ));
        }
        let n = (image_size / patch).pow(2) + 1;
        w.skip("position_ids");
        Self::new(
            w.get("patch_embedding.weight", &[dim, channels, patch, patch])?,
            None,
            w.get("class_embedding", &[dim])?,
            w.get("position_embedding.weight", &[n, dim])?,
            image_size,
        )
    }

    /// `pixels: [b, c, size, size]` → `[b, patches + 1, dim]`, in the weights' dtype: pixels
    /// in another float dtype (an image processor's f32 output for a bf16 model) are converted
    /// first, as `transformers` does with `pixel_values.to(dtype=target_dtype)` in
    /// `BlipVisionEmbeddings.forward` / `CLIPVisionEmbeddings.forward`.
    pub fn forward(&self, pixels: &Tensor<B>) -> Result<Tensor<B>> {
        let s = self.image_size;
        let c = self.patch_weight.dims()[1];
        if pixels.rank() != 4 || pixels.dims()[1..] != [c, s, s] {
            return Err(NnError::input(
                "pixel_values",
                format!("expected [batch, {c}, {s}, {s}], got {:?}", pixels.dims()),
            ));
        }
        let b = pixels.dims()[0];
        let dtype = self.patch_weight.dtype();
        let converted;
        let pixels = if pixels.dtype() == dtype {
            pixels
        } else {
            converted = pixels.to_dtype(dtype)?;
            &converted
        };
        let patches = pixels.patch_embed(&self.patch_weight, self.patch_bias.as_ref())?;
        let dim = self.patch_weight.dims()[0];
        let class = self.class_embedding.broadcast_as(&[b, 1, dim])?;
        let tokens = Tensor::cat(&[&class, &patches], 1)?;
        Ok(tokens.add(&self.position)?)
    }

    pub fn num_positions(&self) -> usize {
        self.position.dims()[1]
    }
}
