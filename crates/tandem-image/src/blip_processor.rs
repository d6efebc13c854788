//! `BlipImageProcessor`: resize to exactly `size × size` with Pillow's bicubic filter, rescale
//! by 1/255, normalise with the OpenAI CLIP mean/std; no centre crop. The resampler and the
//! normalisation are [`ImageProcessor`]'s (one implementation of the Pillow-exact bicubic
//! resize in the workspace); this file only fixes BLIP's settings.

use crate::error::{ImageError, Result};
use crate::processor::{ImageProcessor, ResizeTo};
use crate::resample::RgbImage;
use std::path::Path;
use tandem_tensor::{Backend, Tensor};

/// Image preprocessing of a BLIP checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct BlipImageProcessor {
    inner: ImageProcessor,
}

impl BlipImageProcessor {
    /// BLIP's defaults for `image_size` (384 for the public checkpoints).
    pub fn new(image_size: usize) -> Self {
        let mut inner = ImageProcessor::clip(image_size);
        inner.resize = Some(ResizeTo::Exact {
            height: image_size,
            width: image_size,
        });
        inner.crop = None;
        BlipImageProcessor { inner }
    }

    /// Reads `dir/preprocessor_config.json` (size, rescale factor, mean/std) or uses the
    /// defaults when absent. BLIP never centre-crops, whatever the file says.
    pub fn from_dir(dir: &Path, image_size: usize) -> Result<Self> {
        let mut inner = ImageProcessor::from_dir(dir, image_size)?;
        inner.crop = None;
        if let Some(ResizeTo::ShortestEdge(n)) = inner.resize {
            inner.resize = Some(ResizeTo::Exact {
                height: n,
                width: n,
            });
        }
        Ok(BlipImageProcessor { inner })
    }

    /// One image → `[3, h, w]` floats, channels first.
    pub fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>> {
        self.inner.preprocess(image)
    }

    /// Images → `pixel_values` `[n, 3, h, w]` on `backend`.
    pub fn pixel_values<B: Backend>(&self, backend: &B, images: &[&RgbImage]) -> Result<Tensor<B>> {
        if images.is_empty() {
            return Err(ImageError::input("images", "no images to preprocess"));
        }
        self.inner.pixel_values(backend, images)
    }

    /// The output size `(height, width)`.
    pub fn output_size(&self) -> (usize, usize) {
        self.inner.resized_size(1, 1)
    }
}
