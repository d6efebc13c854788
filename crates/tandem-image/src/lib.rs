//! Images for Tandem, shared by the CLIP and BLIP crates and the CLI: decode PNG, JPEG (with
//! libjpeg-turbo, bit-exact with Pillow), WebP, GIF, BMP and TIFF bytes within limits, apply
//! EXIF orientation, convert to 8-bit RGB exactly as transformers' `convert_to_rgb`
//! does, resize with Pillow's bicubic filter bit for bit, and preprocess like
//! `CLIPImageProcessor` and `BlipImageProcessor`.
//!
//! ```no_run
//! use tandem_image::{open_image, ImageOptions, ImageProcessor};
//! # fn main() -> tandem_image::Result<()> {
//! let image = open_image("cat.jpg".as_ref(), ImageOptions::default())?;
//! let pixels = ImageProcessor::clip(224).preprocess(&image)?; // [3, 224, 224], channels first
//! assert_eq!(pixels.len(), 3 * 224 * 224);
//! # Ok(()) }
//! ```

mod blip_processor;
mod convert;
mod decode;
mod error;
mod jpeg;
mod pixels;
mod processor;
mod resample;

pub use blip_processor::BlipImageProcessor;
pub use convert::to_rgb;
pub use decode::{
    decode_image, image_dimensions, open_image, ImageOptions, METADATA_BUDGET,
    PILLOW_MAX_IMAGE_PIXELS, SUPPORTED_FORMATS,
};
pub use error::{ImageError, Result};
pub use pixels::{stack_pixels, Pixels};
pub use processor::{center_crop, ImageProcessor, ResizeTo, CLIP_MEAN, CLIP_STD, MAX_OUTPUT_SIDE};
pub use resample::{horizontal_pass_first, resize_bicubic, resize_bicubic_window, RgbImage};
