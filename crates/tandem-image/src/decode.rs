//! Decoding images and converting them to 8-bit RGB the way `CLIPImageProcessor` does.
//!
//! transformers' `convert_to_rgb` composites any transparency onto a **white** background with
//! Pillow's `alpha_composite` and then drops alpha; grey images are replicated to three
//! channels. Both are mirrored here, including Pillow's integer rounding.
//!
//! Differences from a Pillow-based pipeline, stated rather than hidden:
//! - 16-bit images are reduced to 8 bits by their high byte (what Pillow does for 16-bit RGB
//!   and RGBA PNGs; for 16-bit *grey* PNGs Pillow clips the raw value to 255, which whitens the
//!   image, and we deliberately do not copy that).
//! - JPEGs are decoded by the `image` crate (zune-jpeg), not libjpeg-turbo; decoders may differ
//!   by a level or two on some pixels. CMYK JPEGs are converted to RGB by the decoder.
//! - EXIF orientation is applied by default (a photo comes out upright); `PIL.Image.open`
//!   does not apply it, so set [`ImageOptions::apply_exif_orientation`] to `false` to match a
//!   Python pipeline that never calls `ImageOps.exif_transpose`.

use crate::error::{ImageError, Result};
use crate::resample::RgbImage;
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;
use std::path::Path;

/// How images are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// Rotate/flip according to the EXIF orientation tag. Default: true.
    pub apply_exif_orientation: bool,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions { apply_exif_orientation: true }
    }
}

fn image_error(name: &str, reason: impl std::fmt::Display) -> ImageError {
    ImageError::Image { source_name: name.to_string(), reason: reason.to_string() }
}

/// Decodes PNG or JPEG bytes (format sniffed from the content) to RGB; `name` labels errors.
pub fn decode_image(bytes: &[u8], name: &str, options: ImageOptions) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| image_error(name, e))?;
    if reader.format().is_none() {
        return Err(image_error(name, "unrecognised image format (PNG and JPEG are supported)"));
    }
    let mut decoder = reader.into_decoder().map_err(|e| image_error(name, e))?;
    let orientation = if options.apply_exif_orientation { decoder.orientation().ok() } else { None };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    if img.width() == 0 || img.height() == 0 {
        return Err(image_error(name, "image has no pixels"));
    }
    Ok(to_rgb(&img))
}

/// Reads and decodes an image file.
pub fn open_image(path: &Path, options: ImageOptions) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
    decode_image(&bytes, &path.display().to_string(), options)
}

/// Pillow's `alpha_composite` of `(r, g, b, a)` over opaque white, one channel: 7-bit fixed
/// point and its divide-by-255 shifts.
fn over_white(c: u8, a: u8) -> u8 {
    const PB: u32 = 7;
    if a == 0 {
        return 255;
    }
    let coef1 = a as u32 * (1 << PB); // a·255·255·2⁷ / (255·255): exact for an opaque background
    let coef2 = 255 * (1 << PB) - coef1;
    let tmp = c as u32 * coef1 + 255 * coef2 + (0x80 << PB);
    let div255 = ((tmp >> 8) + tmp) >> 8;
    (div255 >> PB) as u8
}

fn from_rgba(w: u32, h: u32, px: impl Iterator<Item = [u8; 4]>) -> RgbImage {
    let data = px.flat_map(|[r, g, b, a]| [over_white(r, a), over_white(g, a), over_white(b, a)]).collect();
    RgbImage { width: w as usize, height: h as usize, data }
}

/// Converts any decoded image to 8-bit RGB as `convert_to_rgb` does.
pub fn to_rgb(img: &DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let rgb = |data: Vec<u8>| RgbImage { width: w as usize, height: h as usize, data };
    let hi = |v: u16| (v >> 8) as u8;
    match img {
        DynamicImage::ImageRgb8(i) => rgb(i.as_raw().clone()),
        DynamicImage::ImageLuma8(i) => rgb(i.as_raw().iter().flat_map(|&v| [v, v, v]).collect()),
        DynamicImage::ImageRgba8(i) => from_rgba(w, h, i.pixels().map(|p| p.0)),
        DynamicImage::ImageLumaA8(i) => from_rgba(w, h, i.pixels().map(|p| [p.0[0], p.0[0], p.0[0], p.0[1]])),
        DynamicImage::ImageRgb16(i) => rgb(i.as_raw().iter().map(|&v| hi(v)).collect()),
        DynamicImage::ImageLuma16(i) => rgb(i.as_raw().iter().flat_map(|&v| [hi(v); 3]).collect()),
        DynamicImage::ImageRgba16(i) => from_rgba(w, h, i.pixels().map(|p| p.0.map(hi))),
        DynamicImage::ImageLumaA16(i) => {
            from_rgba(w, h, i.pixels().map(|p| [hi(p.0[0]), hi(p.0[0]), hi(p.0[0]), hi(p.0[1])]))
        }
        other => {
            let rgba = other.to_rgba8();
            from_rgba(w, h, rgba.pixels().map(|p| p.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::over_white;

    #[test]
    fn compositing_over_white_matches_the_exact_blend_within_rounding() {
        for a in 0..=255u32 {
            for c in [0u32, 1, 77, 128, 254, 255] {
                let exact = (c * a + 255 * (255 - a)) as f64 / 255.0;
                let got = over_white(c as u8, a as u8) as f64;
                assert!((got - exact).abs() <= 1.0, "c={c} a={a}: {got} vs {exact}");
            }
        }
        assert_eq!(over_white(10, 255), 10);
        assert_eq!(over_white(10, 0), 255);
    }
}
