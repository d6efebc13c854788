//! Decoding image bytes with limits, as Pillow would open them, then converting to RGB.
//!
//! - JPEG: libjpeg-turbo with Pillow's settings, bit-exact with Pillow ([`crate::jpeg`]).
//! - PNG, WebP, GIF (first frame), BMP and TIFF: the `image` crate's decoders, then the RGB
//!   conversion of [`crate::to_rgb`].
//!
//! Limits come first: the width × height in the header is checked against
//! [`ImageOptions::max_pixels`] before any pixel buffer exists, and metadata a decoder inflates
//! (a PNG's ICC profile or text chunks) is bounded by [`METADATA_BUDGET`]. Truncated files
//! are errors, as Pillow raises `image file is truncated` by default.
//!
//! EXIF orientation is applied by default (a photo comes out upright); `PIL.Image.open` does
//! not apply it, so set [`ImageOptions::apply_exif_orientation`] to `false` to match a Python
//! pipeline that never calls `ImageOps.exif_transpose`.

use crate::convert::to_rgb;
use crate::error::{ImageError, Result};
use crate::jpeg;
use crate::resample::RgbImage;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;

/// Pillow's `Image.MAX_IMAGE_PIXELS` (its decompression-bomb warning threshold).
pub const PILLOW_MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// Bytes a decoder may allocate for metadata it inflates before the pixels (PNG `iCCP`,
/// `zTXt`/`iTXt`): 8 MiB. A larger ICC profile is dropped by the PNG decoder (it is never used
/// for the conversion), so a profile that inflates to 512 MiB costs at most this much.
pub const METADATA_BUDGET: u64 = 8 << 20;

/// How images are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// Rotate/flip according to the EXIF orientation tag. Default: true.
    pub apply_exif_orientation: bool,
    /// Largest accepted width × height, checked against the header before decoding.
    /// Default: [`PILLOW_MAX_IMAGE_PIXELS`].
    pub max_pixels: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            apply_exif_orientation: true,
            max_pixels: PILLOW_MAX_IMAGE_PIXELS,
        }
    }
}

/// The formats decoded, for error messages.
pub const SUPPORTED_FORMATS: &str = "PNG, JPEG, WebP, GIF, BMP and TIFF are supported";

fn image_error(name: &str, reason: impl std::fmt::Display) -> ImageError {
    ImageError::Image {
        source_name: name.to_string(),
        reason: reason.to_string(),
    }
}

fn check_pixels(name: &str, width: u32, height: u32, options: &ImageOptions) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(image_error(name, "image has no pixels"));
    }
    if pixels > options.max_pixels {
        return Err(image_error(
            name,
            format!(
                "image is {width}x{height} = {pixels} pixels, over the limit of {} (a decompression-bomb guard)",
                options.max_pixels
            ),
        ));
    }
    Ok(())
}

/// The format sniffed from the content, or an error naming the supported ones.
fn sniff(bytes: &[u8], name: &str) -> Result<ImageFormat> {
    match image::guess_format(bytes) {
        Ok(
            f @ (ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff),
        ) => Ok(f),
        Ok(other) => Err(image_error(
            name,
            format!("{other:?} images are not supported ({SUPPORTED_FORMATS})"),
        )),
        Err(_) => Err(image_error(
            name,
            format!("not an image: unrecognised format ({SUPPORTED_FORMATS})"),
        )),
    }
}

/// The `(width, height)` in the image's header, without decoding pixels.
pub fn image_dimensions(bytes: &[u8], name: &str) -> Result<(u32, u32)> {
    if sniff(bytes, name)? == ImageFormat::Jpeg {
        let h = jpeg::header(bytes).map_err(|e| image_error(name, e))?;
        return Ok((h.width, h.height));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(name, e))?;
    reader.limits(metadata_limits());
    reader
        .into_dimensions()
        .map_err(|e| image_error(name, format!("corrupt image header: {e}")))
}

fn metadata_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(METADATA_BUDGET);
    limits
}

/// Decodes image bytes (format sniffed from the content) to RGB; `name` labels errors.
pub fn decode_image(bytes: &[u8], name: &str, options: ImageOptions) -> Result<RgbImage> {
    let img = match sniff(bytes, name)? {
        ImageFormat::Jpeg => decode_jpeg(bytes, name, &options)?,
        _ => decode_other(bytes, name, &options)?,
    };
    if img.width() == 0 || img.height() == 0 {
        return Err(image_error(name, "image has no pixels"));
    }
    Ok(to_rgb(&img))
}

fn decode_jpeg(bytes: &[u8], name: &str, options: &ImageOptions) -> Result<DynamicImage> {
    let head = jpeg::header(bytes).map_err(|e| image_error(name, e))?;
    check_pixels(name, head.width, head.height, options)?;
    let d = jpeg::decode(bytes, options.max_pixels).map_err(|e| image_error(name, e))?;
    let (w, h) = (d.width, d.height);
    let broken = || image_error(name, "decoded JPEG has the wrong number of samples");
    let mut img = match d.channels {
        1 => DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, d.data).ok_or_else(broken)?),
        3 => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, d.data).ok_or_else(broken)?),
        _ => DynamicImage::ImageRgb8(
            image::RgbImage::from_raw(w, h, jpeg::cmyk_to_rgb(&d.data)).ok_or_else(broken)?,
        ),
    };
    if options.apply_exif_orientation {
        if let Some(o) = jpeg::markers::walk(bytes)
            .exif
            .and_then(Orientation::from_exif_chunk)
        {
            img.apply_orientation(o);
        }
    }
    Ok(img)
}

/// PNG, WebP, GIF, BMP, TIFF through the `image` crate: the header is read first under
/// [`METADATA_BUDGET`] and checked, then the image is decoded with an allocation budget computed
/// from it (the largest pixel layout, 16-bit RGBA, plus the metadata budget).
fn decode_other(bytes: &[u8], name: &str, options: &ImageOptions) -> Result<DynamicImage> {
    let (w, h) = image_dimensions(bytes, name)?;
    check_pixels(name, w, h, options)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        (u64::from(w) * u64::from(h))
            .saturating_mul(8)
            .saturating_add(METADATA_BUDGET),
    );
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(name, e))?;
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(name, format!("corrupt image: {e}")))?;
    let orientation = if options.apply_exif_orientation {
        decoder.orientation().ok()
    } else {
        None
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// Reads and decodes an image file.
pub fn open_image(path: &Path, options: ImageOptions) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_image(&bytes, &path.display().to_string(), options)
}
