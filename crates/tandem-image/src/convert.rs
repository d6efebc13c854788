//! Converting any decoded image to 8-bit RGB the way transformers' `convert_to_rgb` does.
//!
//! `convert_to_rgb` composites any transparency onto a **white** background with Pillow's
//! `alpha_composite` and then drops alpha; grey images are replicated to three channels. Both
//! are mirrored here, including Pillow's integer rounding.
//!
//! 16-bit samples are reduced to 8 bits by their high byte: what Pillow does for 16-bit RGB and
//! RGBA PNGs. For 16-bit *grey* PNGs Pillow instead clips the raw value to 255 (`I;16` → `L`),
//! which turns almost every photo white; we deliberately keep the high-byte scaling there too.

use crate::resample::RgbImage;
use image::DynamicImage;

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
    let data = px
        .flat_map(|[r, g, b, a]| [over_white(r, a), over_white(g, a), over_white(b, a)])
        .collect();
    RgbImage {
        width: w as usize,
        height: h as usize,
        data,
    }
}

/// Converts any decoded image to 8-bit RGB as `convert_to_rgb` does.
pub fn to_rgb(img: &DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let rgb = |data: Vec<u8>| RgbImage {
        width: w as usize,
        height: h as usize,
        data,
    };
    let hi = |v: u16| (v >> 8) as u8;
    match img {
        DynamicImage::ImageRgb8(i) => rgb(i.as_raw().clone()),
        DynamicImage::ImageLuma8(i) => rgb(i.as_raw().iter().flat_map(|&v| [v, v, v]).collect()),
        DynamicImage::ImageRgba8(i) => from_rgba(w, h, i.pixels().map(|p| p.0)),
        DynamicImage::ImageLumaA8(i) => {
            from_rgba(w, h, i.pixels().map(|p| [p.0[0], p.0[0], p.0[0], p.0[1]]))
        }
        DynamicImage::ImageRgb16(i) => rgb(i.as_raw().iter().map(|&v| hi(v)).collect()),
        DynamicImage::ImageLuma16(i) => rgb(i.as_raw().iter().flat_map(|&v| [hi(v); 3]).collect()),
        DynamicImage::ImageRgba16(i) => from_rgba(w, h, i.pixels().map(|p| p.0.map(hi))),
        DynamicImage::ImageLumaA16(i) => from_rgba(
            w,
            h,
            i.pixels()
                .map(|p| [hi(p.0[0]), hi(p.0[0]), hi(p.0[0]), hi(p.0[1])]),
        ),
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
