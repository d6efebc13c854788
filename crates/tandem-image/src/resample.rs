//! Pillow's bicubic resize of 8-bit images, reproduced bit for bit.
//!
//! `CLIPImageProcessor` resizes with `PIL.Image.resize(..., BICUBIC)`. Pillow's algorithm is a
//! separable convolution whose kernel support grows with the downscale factor (antialiasing),
//! with coefficients normalised per output pixel, turned into 22-bit fixed point, accumulated
//! in integers with a rounding offset, and clipped to `u8` after *each* pass. Any of those
//! details changes pixel values, so each is mirrored here (Pillow 13 `libImaging/Resample.c`:
//! `precompute_coeffs`, `normalize_coeffs_8bpc`, `ImagingResampleHorizontal_8bpc`,
//! `ImagingResampleVertical_8bpc`, `ImagingResampleInner`).
//!
//! Pass order, as `ImagingResampleInner` in Pillow 13 chooses it: the horizontal pass runs
//! first (over only the rows the vertical pass reads) unless the height shrinks by more than
//! twice as many pixels as the width does, `in_h - out_h > 0 && in_h - out_h > 2 (in_w - out_w)`;
//! then the vertical pass runs first over the whole width. Because each pass rounds to `u8`,
//! the order changes pixel values (a 33×100 image resized to 32×96, for example).

/// An 8-bit RGB image, row-major, channels interleaved (`HWC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Wraps interleaved RGB bytes; `None` when `data` does not hold `width × height × 3` bytes.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width.checked_mul(height)?.checked_mul(3)?).then_some(RgbImage {
            width,
            height,
            data,
        })
    }
}

use std::ops::Range;

const PRECISION_BITS: u32 = 32 - 8 - 2;
const BICUBIC_SUPPORT: f64 = 2.0;

/// Pillow's bicubic kernel (`a = -0.5`).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel of a window: first input index, number of taps, and fixed-point weights
/// (`ksize` each).
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    ksize: usize,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` for the whole input range `0..in_size`, for
/// the output pixels `window` of `0..out_size` only: each output pixel's coefficients depend on
/// its own index alone, so a window gives exactly the values of the full computation.
fn coeffs(in_size: usize, out_size: usize, window: Range<usize>) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(window.len());
    let mut weights = vec![0i32; window.len() * ksize];
    let mut k = vec![0f64; ksize];
    for (i, xx) in window.enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's `(int)` truncates toward zero; negative starts are then clamped to 0.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64)
            .min(in_size as i64)
            .max(xmin as i64) as usize
            - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let w = bicubic((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(xmax) {
            let w = if ww != 0.0 { kx / ww } else { *kx };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[i * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs {
        bounds,
        weights,
        ksize,
    }
}

/// `clip8`: drop the fixed-point fraction (arithmetic shift) and saturate to `0..=255`.
#[inline]
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const ROUND: i64 = 1 << (PRECISION_BITS - 1);

/// `ImagingResampleHorizontal_8bpc` over the source rows `rows`.
fn horizontal(src: &RgbImage, c: &Coeffs, rows: Range<usize>) -> RgbImage {
    let out_w = c.bounds.len();
    let mut data = Vec::with_capacity(rows.len() * out_w * 3);
    for y in rows.clone() {
        let line = &src.data[y * src.width * 3..(y + 1) * src.width * 3];
        for (xx, &(xmin, n)) in c.bounds.iter().enumerate() {
            let k = &c.weights[xx * c.ksize..xx * c.ksize + n];
            for ch in 0..3 {
                let acc: i64 = k
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| line[(xmin + i) * 3 + ch] as i64 * w as i64)
                    .sum();
                data.push(clip8(ROUND + acc));
            }
        }
    }
    RgbImage {
        width: out_w,
        height: rows.len(),
        data,
    }
}

/// `ImagingResampleVertical_8bpc`; `src` row 0 is input row `row_offset`.
fn vertical(src: &RgbImage, c: &Coeffs, row_offset: usize) -> RgbImage {
    let stride = src.width * 3;
    let mut data = Vec::with_capacity(c.bounds.len() * stride);
    for (yy, &(ymin, n)) in c.bounds.iter().enumerate() {
        let k = &c.weights[yy * c.ksize..yy * c.ksize + n];
        let first = ymin - row_offset;
        for i in 0..stride {
            let acc: i64 = k
                .iter()
                .enumerate()
                .map(|(j, &w)| src.data[(first + j) * stride + i] as i64 * w as i64)
                .sum();
            data.push(clip8(ROUND + acc));
        }
    }
    RgbImage {
        width: src.width,
        height: c.bounds.len(),
        data,
    }
}

/// The sub-image `cols × rows` of `src`.
fn crop(src: &RgbImage, cols: Range<usize>, rows: Range<usize>) -> RgbImage {
    let mut data = Vec::with_capacity(cols.len() * rows.len() * 3);
    for y in rows.clone() {
        let start = (y * src.width + cols.start) * 3;
        data.extend_from_slice(&src.data[start..start + cols.len() * 3]);
    }
    RgbImage {
        width: cols.len(),
        height: rows.len(),
        data,
    }
}

/// Whether Pillow 13 runs the horizontal pass first for this resize (`ImagingResampleInner`'s
/// `horizontal_first`): yes unless the height shrinks by more than twice the width's shrink.
pub fn horizontal_pass_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    let dy = in_h as i128 - out_h as i128;
    let dx = in_w as i128 - out_w as i128;
    !(dy > 0 && dy > dx * 2)
}

/// Resizes to `out_w × out_h` exactly as Pillow 13's `Image.resize(size, Image.BICUBIC)`,
/// including its choice of which pass runs first ([`horizontal_pass_first`]).
/// Sizes of zero give an empty image.
pub fn resize_bicubic(src: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    resize_bicubic_window(src, out_w, out_h, 0..out_w, 0..out_h)
}

/// The window `cols × rows` of [`resize_bicubic`]`(src, out_w, out_h)`, computing only those
/// output pixels: equal, byte for byte, to resizing and then cropping, but the work and memory
/// are those of the window (a centre crop of a 1 × 300,000 image resized to 224 × 67,200,000
/// costs 224 × 224 pixels). Window ends beyond the output size are clamped.
pub fn resize_bicubic_window(
    src: &RgbImage,
    out_w: usize,
    out_h: usize,
    cols: Range<usize>,
    rows: Range<usize>,
) -> RgbImage {
    let cols = cols.start.min(out_w)..cols.end.min(out_w).max(cols.start.min(out_w));
    let rows = rows.start.min(out_h)..rows.end.min(out_h).max(rows.start.min(out_h));
    if cols.is_empty() || rows.is_empty() || src.width == 0 || src.height == 0 {
        return RgbImage {
            width: cols.len(),
            height: rows.len(),
            data: vec![0; cols.len() * rows.len() * 3],
        };
    }
    let need_h = out_w != src.width;
    let need_v = out_h != src.height;
    let hc = need_h.then(|| coeffs(src.width, out_w, cols.clone()));
    let vc = need_v.then(|| coeffs(src.height, out_h, rows.clone()));
    if !horizontal_pass_first(src.width, src.height, out_w, out_h) {
        // Vertical first, over every column; then horizontal over the window's rows.
        let v = match &vc {
            Some(vc) => vertical(src, vc, 0),
            None => crop(src, 0..src.width, rows.clone()),
        };
        return match &hc {
            Some(hc) => horizontal(&v, hc, 0..v.height),
            None => crop(&v, cols, 0..v.height),
        };
    }
    // Horizontal first, over only the rows the vertical pass reads.
    let (first, last) = match &vc {
        Some(vc) => {
            let (lo, _) = vc.bounds[0];
            let (hi, n) = vc.bounds[vc.bounds.len() - 1];
            (lo, hi + n)
        }
        None => (rows.start, rows.end),
    };
    let h = match &hc {
        Some(hc) => horizontal(src, hc, first..last),
        None => crop(src, cols, first..last),
    };
    match &vc {
        Some(vc) => vertical(&h, vc, first),
        None => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_weights_sum_to_one_in_fixed_point() {
        for (inp, out) in [(640, 224), (224, 640), (10, 3), (3, 10), (1000, 7)] {
            let c = coeffs(inp, out, 0..out);
            for (xx, &(_, n)) in c.bounds.iter().enumerate() {
                let sum: i64 = c.weights[xx * c.ksize..xx * c.ksize + n]
                    .iter()
                    .map(|&w| w as i64)
                    .sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= n as i64,
                    "{inp}->{out} pixel {xx}: {sum}"
                );
            }
        }
    }

    #[test]
    fn pass_order_follows_pillow_13() {
        // Height shrinks by more than twice the width's shrink: vertical first.
        assert!(!horizontal_pass_first(33, 100, 11, 30));
        assert!(!horizontal_pass_first(61, 47, 130, 9));
        // Upscales, wide images and proportional shrinks: horizontal first.
        assert!(horizontal_pass_first(33, 100, 224, 678));
        assert!(horizontal_pass_first(100, 33, 50, 16));
        assert!(horizontal_pass_first(40, 100, 10, 40)); // 60 == 2 * 30: not more than twice
        assert!(!horizontal_pass_first(40, 100, 10, 39));
    }

    #[test]
    fn a_window_equals_the_crop_of_the_full_resize() {
        let data: Vec<u8> = (0..37 * 23 * 3).map(|i| (i * 7919 % 256) as u8).collect();
        let img = RgbImage::new(37, 23, data).expect("image");
        for (w, h) in [(11, 7), (80, 50), (37, 9), (5, 23), (37, 60), (12, 23)] {
            let full = resize_bicubic(&img, w, h);
            for (cols, rows) in [(0..w, 0..h), (1..w / 2 + 1, 2..h - 1), (w - 1..w, 0..1)] {
                let want = crop(&full, cols.clone(), rows.clone());
                assert_eq!(
                    resize_bicubic_window(&img, w, h, cols.clone(), rows.clone()),
                    want,
                    "{w}x{h} {cols:?} {rows:?}"
                );
            }
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        let img = RgbImage::new(37, 23, [10u8, 200, 255].repeat(37 * 23)).expect("image");
        for (w, h) in [(11, 7), (80, 50), (37, 9), (5, 23)] {
            let out = resize_bicubic(&img, w, h);
            assert_eq!((out.width, out.height), (w, h));
            assert!(out.data.chunks(3).all(|p| p == [10, 200, 255]), "{w}x{h}");
        }
    }
}
