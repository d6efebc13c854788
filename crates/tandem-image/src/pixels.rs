//! [`Pixels`]: one preprocessed image, the form a model handler receives when preprocessing
//! runs as its own pipeline step (as in Beam's RunInference examples), and [`stack_pixels`] to batch
//! them.

use std::sync::Arc;

use tandem_tensor::{Backend, Tensor};

use crate::error::{ImageError, Result};

/// One preprocessed image: `[3, height, width]` floats, channels first, as an image processor
/// ([`crate::ImageProcessor`], [`crate::BlipImageProcessor`]) returns them.
///
/// `key` identifies the image: it names the image in errors, and BLIP derives the image's
/// sampling streams from it so its captions do not depend on its batch-mates. The data is
/// shared (`Arc`), so cloning a `Pixels` between pipeline steps does not copy it. `Debug`
/// prints only the key and shape.
#[derive(Clone)]
pub struct Pixels {
    pub key: String,
    pub data: Arc<Vec<f32>>,
    pub height: usize,
    pub width: usize,
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pixels({}, 3x{}x{})", self.key, self.height, self.width)
    }
}

/// Stacks same-sized images into one `[n, 3, height, width]` tensor (the `pixel_values` of a
/// batch).
///
/// # Errors
/// [`ImageError::Input`] for an empty batch, an image whose size differs from the first one
/// (naming its key) or whose data length is not `3 × height × width`;
/// [`ImageError::Tensor`] when the backend cannot allocate the tensor.
pub fn stack_pixels<B: Backend>(backend: &B, batch: &[&Pixels]) -> Result<Tensor<B>> {
    let Some(first) = batch.first() else {
        return Err(ImageError::Input {
            what: "pixel batch",
            reason: String::from("empty batch"),
        });
    };
    let (h, w) = (first.height, first.width);
    if let Some(odd) = batch.iter().find(|p| (p.height, p.width) != (h, w)) {
        return Err(ImageError::Input {
            what: "pixel batch",
            reason: format!(
                "{} is {}x{}, the batch is {h}x{w}",
                odd.key, odd.height, odd.width
            ),
        });
    }
    if let Some(odd) = batch.iter().find(|p| p.data.len() != 3 * h * w) {
        return Err(ImageError::Input {
            what: "pixel batch",
            reason: format!(
                "{} has {} values, 3x{h}x{w} needs {}",
                odd.key,
                odd.data.len(),
                3 * h * w
            ),
        });
    }
    let mut flat = Vec::with_capacity(batch.len() * 3 * h * w);
    for p in batch {
        flat.extend_from_slice(&p.data);
    }
    Ok(Tensor::from_slice(backend, &flat, &[batch.len(), 3, h, w])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_tensor::CpuBackend;

    fn pixels(key: &str, h: usize, w: usize, v: f32) -> Pixels {
        Pixels {
            key: key.into(),
            data: Arc::new(vec![v; 3 * h * w]),
            height: h,
            width: w,
        }
    }

    #[test]
    fn stacks_in_order_and_names_the_odd_one_out() {
        let (a, b) = (pixels("a", 2, 3, 1.0), pixels("b", 2, 3, 2.0));
        let t = stack_pixels(&CpuBackend, &[&a, &b]).unwrap();
        assert_eq!(t.dims(), &[2, 3, 2, 3]);
        let v: Vec<f32> = t.to_vec().unwrap();
        assert_eq!(&v[..18], &[1.0; 18]);
        assert_eq!(&v[18..], &[2.0; 18]);

        let odd = pixels("odd", 3, 3, 0.0);
        let e = stack_pixels(&CpuBackend, &[&a, &odd])
            .unwrap_err()
            .to_string();
        assert!(e.contains("odd is 3x3, the batch is 2x3"), "{e}");
        assert!(stack_pixels::<CpuBackend>(&CpuBackend, &[]).is_err());
        let mut short = pixels("short", 2, 3, 0.0);
        short.data = Arc::new(vec![0.0; 5]);
        let e = stack_pixels(&CpuBackend, &[&short])
            .unwrap_err()
            .to_string();
        assert!(e.contains("short has 5 values"), "{e}");
    }
}
