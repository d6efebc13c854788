//! `CLIPImageProcessor`: resize the shortest edge (Pillow bicubic), centre crop, rescale by
//! 1/255, normalise with CLIP's mean and std; channels first.
//!
//! Settings come from the checkpoint's `preprocessor_config.json` when present (both the
//! current dict form of `size`/`crop_size` and the old integer form are read), else CLIP's
//! defaults for the vision tower's image size.

use crate::error::{ImageError, Result};
use crate::resample::{resize_bicubic, resize_bicubic_window, RgbImage};
use serde_json::Value;
use std::path::Path;
use tandem_tensor::{Backend, Tensor};

/// transformers' `OPENAI_CLIP_MEAN`.
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// transformers' `OPENAI_CLIP_STD`, digits as transformers writes them (they round to the same
/// `f32`s; keeping them makes the source easy to check).
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
/// The largest resize or crop side a processor config may ask for (the public CLIP, BLIP and
/// SigLIP checkpoints use 224 to 896), and, squared, the largest un-cropped resize: a config
/// with `image_size: 100000` is refused at load instead of allocating 30 GB per image.
pub const MAX_OUTPUT_SIDE: usize = 4096;

/// `PILImageResampling.BICUBIC`, the only resampling filter implemented.
const BICUBIC: u64 = 3;

/// How `size` is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeTo {
    /// Shortest edge to this length, aspect ratio kept (long edge truncated as `int()` does).
    ShortestEdge(usize),
    /// Exactly this `height × width`.
    Exact { height: usize, width: usize },
}

/// The settings of a `CLIPImageProcessor`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageProcessor {
    pub resize: Option<ResizeTo>,
    /// `(height, width)` of the centre crop.
    pub crop: Option<(usize, usize)>,
    pub rescale_factor: Option<f64>,
    pub normalize: Option<([f32; 3], [f32; 3])>,
}

impl ImageProcessor {
    /// CLIP's defaults for `image_size` (224 for the OpenAI models).
    pub fn clip(image_size: usize) -> Self {
        ImageProcessor {
            resize: Some(ResizeTo::ShortestEdge(image_size)),
            crop: Some((image_size, image_size)),
            rescale_factor: Some(1.0 / 255.0),
            normalize: Some((CLIP_MEAN, CLIP_STD)),
        }
    }

    /// Reads `preprocessor_config.json`; absent fields keep [`ImageProcessor::clip`]'s values.
    pub fn from_json(text: &str, image_size: usize) -> Result<Self> {
        let bad = |reason: String| ImageError::config("preprocessor_config.json", reason);
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut p = Self::clip(image_size);
        let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(true);
        let usize_of = |x: &Value| x.as_u64().map(|n| n as usize);
        if let Some(r) = v.get("resample").and_then(Value::as_u64) {
            if r != BICUBIC && flag("do_resize") {
                return Err(bad(format!(
                    "resample {r} is not supported (only bicubic, 3)"
                )));
            }
        }
        if !flag("do_resize") {
            p.resize = None;
        } else if let Some(size) = v.get("size") {
            p.resize = Some(if let Some(n) = usize_of(size) {
                ResizeTo::ShortestEdge(n)
            } else if let Some(n) = size.get("shortest_edge").and_then(usize_of) {
                ResizeTo::ShortestEdge(n)
            } else if let (Some(h), Some(w)) = (
                size.get("height").and_then(usize_of),
                size.get("width").and_then(usize_of),
            ) {
                ResizeTo::Exact {
                    height: h,
                    width: w,
                }
            } else {
                return Err(bad(format!("unsupported `size` {size}")));
            });
        }
        if !flag("do_center_crop") {
            p.crop = None;
        } else if let Some(c) = v.get("crop_size") {
            p.crop = Some(if let Some(n) = usize_of(c) {
                (n, n)
            } else if let (Some(h), Some(w)) = (
                c.get("height").and_then(usize_of),
                c.get("width").and_then(usize_of),
            ) {
                (h, w)
            } else {
                return Err(bad(format!("unsupported `crop_size` {c}")));
            });
        }
        if !flag("do_rescale") {
            p.rescale_factor = None;
        } else if let Some(f) = v.get("rescale_factor").and_then(Value::as_f64) {
            p.rescale_factor = Some(f);
        }
        if !flag("do_normalize") {
            p.normalize = None;
        } else {
            let triple = |key: &str, default: [f32; 3]| -> Result<[f32; 3]> {
                match v.get(key) {
                    None => Ok(default),
                    Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                    Some(Value::Array(a)) if a.len() == 3 => {
                        let mut out = [0f32; 3];
                        for (o, x) in out.iter_mut().zip(a) {
                            *o = x
                                .as_f64()
                                .ok_or_else(|| bad(format!("`{key}` has a non-number")))?
                                as f32;
                        }
                        Ok(out)
                    }
                    Some(other) => Err(bad(format!(
                        "`{key}` must be a number or 3 numbers, got {other}"
                    ))),
                }
            };
            p.normalize = Some((
                triple("image_mean", CLIP_MEAN)?,
                triple("image_std", CLIP_STD)?,
            ));
        }
        p.validate()?;
        Ok(p)
    }

    /// Refuses, before any image is processed, settings that would allocate without bound or
    /// write NaN: sizes of zero or above [`MAX_OUTPUT_SIDE`], a non-finite rescale factor, a
    /// non-finite mean, a zero or non-finite std.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, n: usize| {
            Err(ImageError::config(
                "preprocessor_config.json",
                format!("{what} {n} is outside 1..={MAX_OUTPUT_SIDE}"),
            ))
        };
        let mut sides = Vec::new();
        match self.resize {
            Some(ResizeTo::ShortestEdge(n)) => sides.push(("size.shortest_edge", n)),
            Some(ResizeTo::Exact { height, width }) => {
                sides.extend([("size.height", height), ("size.width", width)])
            }
            None => {}
        }
        if let Some((h, w)) = self.crop {
            sides.extend([("crop_size.height", h), ("crop_size.width", w)]);
        }
        for (what, n) in sides {
            if n == 0 || n > MAX_OUTPUT_SIDE {
                return bad(what, n);
            }
        }
        let config = |reason: String| Err(ImageError::config("preprocessor_config.json", reason));
        if let Some(f) = self.rescale_factor {
            if !f.is_finite() {
                return config(format!("rescale_factor {f} is not a finite number"));
            }
        }
        if let Some((mean, std)) = &self.normalize {
            if mean.iter().any(|m| !m.is_finite())
                || std.iter().any(|s| !s.is_finite() || *s == 0.0)
            {
                return config(format!(
                    "image_mean {mean:?} / image_std {std:?}: every mean must be finite and every std finite and non-zero (a zero std divides by zero)"
                ));
            }
        }
        Ok(())
    }

    /// [`ImageProcessor::from_json`] on `dir/preprocessor_config.json`, or the defaults.
    pub fn from_dir(dir: &Path, image_size: usize) -> Result<Self> {
        let path = dir.join("preprocessor_config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_json(&text, image_size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let p = Self::clip(image_size);
                p.validate()?;
                Ok(p)
            }
            Err(source) => Err(ImageError::Io { path, source }),
        }
    }

    /// The `(height, width)` the resize step produces for an input of `height × width`.
    pub fn resized_size(&self, height: usize, width: usize) -> (usize, usize) {
        match self.resize {
            None => (height, width),
            Some(ResizeTo::Exact { height, width }) => (height, width),
            Some(ResizeTo::ShortestEdge(size)) => {
                let (short, long) = if width <= height {
                    (width, height)
                } else {
                    (height, width)
                };
                // transformers: `int(size * long / short)`, float division then truncation.
                let new_long = (size as f64 * long as f64 / short as f64) as usize;
                if width <= height {
                    (new_long, size)
                } else {
                    (size, new_long)
                }
            }
        }
    }

    /// Resize and centre crop, still 8-bit RGB: byte for byte `center_crop(resize(img))`, but
    /// only the output pixels the crop keeps are computed, so the cost is bounded by the crop
    /// whatever the input's aspect ratio. Without a crop the resized size is refused above
    /// [`MAX_OUTPUT_SIDE`]² pixels before anything is allocated.
    pub fn resize_and_crop(&self, img: &RgbImage) -> Result<RgbImage> {
        if img.width == 0 || img.height == 0 {
            return Err(ImageError::input("image", "image has no pixels"));
        }
        let (h, w) = self.resized_size(img.height, img.width);
        if h == 0 || w == 0 {
            return Err(ImageError::input(
                "image",
                format!("{}×{} is too thin to resize", img.width, img.height),
            ));
        }
        let Some((ch, cw)) = self.crop else {
            if h.saturating_mul(w) > MAX_OUTPUT_SIDE * MAX_OUTPUT_SIDE {
                return Err(ImageError::input(
                    "image",
                    format!(
                        "{}×{} would resize to {w}×{h}, over {MAX_OUTPUT_SIDE}² pixels (configure a crop)",
                        img.width, img.height
                    ),
                ));
            }
            return Ok(resize_bicubic(img, w, h));
        };
        // transformers' `center_crop` keeps resized pixel (top + y, left + x) at (y, x), with
        // zeros where that falls outside (its padding branch ends at the same offsets).
        let top = (h as i64 - ch as i64).div_euclid(2);
        let left = (w as i64 - cw as i64).div_euclid(2);
        let rows = top.max(0) as usize..((top + ch as i64).min(h as i64)).max(0) as usize;
        let cols = left.max(0) as usize..((left + cw as i64).min(w as i64)).max(0) as usize;
        let window = resize_bicubic_window(img, w, h, cols.clone(), rows.clone());
        if (window.height, window.width) == (ch, cw) {
            return Ok(window);
        }
        let mut data = vec![0u8; ch * cw * 3];
        let (dy, dx) = (
            (rows.start as i64 - top) as usize,
            (cols.start as i64 - left) as usize,
        );
        for y in 0..window.height {
            let dst = ((dy + y) * cw + dx) * 3;
            data[dst..dst + window.width * 3]
                .copy_from_slice(&window.data[y * window.width * 3..(y + 1) * window.width * 3]);
        }
        Ok(RgbImage {
            width: cw,
            height: ch,
            data,
        })
    }

    /// The full pipeline for one image: `[3, height, width]` floats, channels first.
    pub fn preprocess(&self, img: &RgbImage) -> Result<Vec<f32>> {
        let img = self.resize_and_crop(img)?;
        let plane = img.width * img.height;
        let mut out = vec![0f32; 3 * plane];
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                let mut v = match self.rescale_factor {
                    // numpy: float64 product, then float32.
                    Some(f) => (px[c] as f64 * f) as f32,
                    None => px[c] as f32,
                };
                if let Some((mean, std)) = &self.normalize {
                    v = (v - mean[c]) / std[c];
                }
                out[c * plane + i] = v;
            }
        }
        Ok(out)
    }

    /// A batch `[n, 3, h, w]` of `pixel_values` on `backend`. All images must crop to the same
    /// size (they do whenever a crop or an exact resize is configured).
    pub fn pixel_values<B: Backend>(&self, backend: &B, images: &[&RgbImage]) -> Result<Tensor<B>> {
        if images.is_empty() {
            return Err(ImageError::input("images", "no images to preprocess"));
        }
        let mut data = Vec::new();
        let mut size = None;
        for img in images {
            let out = self.resize_and_crop(img)?;
            if *size.get_or_insert((out.height, out.width)) != (out.height, out.width) {
                return Err(ImageError::input(
                    "images",
                    "images preprocess to different sizes; configure a crop",
                ));
            }
            data.extend(self.preprocess_resized(&out));
        }
        let (h, w) = size.unwrap_or((0, 0));
        Ok(Tensor::from_slice(
            backend,
            &data,
            &[images.len(), 3, h, w],
        )?)
    }

    fn preprocess_resized(&self, img: &RgbImage) -> Vec<f32> {
        let no_resize = ImageProcessor {
            resize: None,
            crop: None,
            ..self.clone()
        };
        // Infallible for a non-empty image: no resize, no crop.
        no_resize.preprocess(img).unwrap_or_default()
    }
}

/// transformers' `center_crop`: `top = (h - crop_h) // 2` (floor); an image smaller than the
/// crop is first padded with zeros, centred with `ceil` offsets.
pub fn center_crop(img: &RgbImage, crop_h: usize, crop_w: usize) -> RgbImage {
    let (h, w) = (img.height as i64, img.width as i64);
    let (ch, cw) = (crop_h as i64, crop_w as i64);
    let mut top = (h - ch).div_euclid(2);
    let mut left = (w - cw).div_euclid(2);
    let (src, sh, sw) = if top >= 0 && left >= 0 && top + ch <= h && left + cw <= w {
        (img.clone(), h, w)
    } else {
        let (nh, nw) = (ch.max(h), cw.max(w));
        let (tp, lp) = ((nh - h + 1) / 2, (nw - w + 1) / 2);
        let mut data = vec![0u8; (nh * nw * 3) as usize];
        for y in 0..h {
            let dst = (((y + tp) * nw + lp) * 3) as usize;
            let src = (y * w * 3) as usize;
            data[dst..dst + (w * 3) as usize]
                .copy_from_slice(&img.data[src..src + (w * 3) as usize]);
        }
        top += tp;
        left += lp;
        (
            RgbImage {
                width: nw as usize,
                height: nh as usize,
                data,
            },
            nh,
            nw,
        )
    };
    let (y0, y1) = (top.max(0), (top + ch).min(sh));
    let (x0, x1) = (left.max(0), (left + cw).min(sw));
    let (oh, ow) = ((y1 - y0).max(0) as usize, (x1 - x0).max(0) as usize);
    let mut data = Vec::with_capacity(oh * ow * 3);
    for y in y0..y1 {
        let start = ((y * sw + x0) * 3) as usize;
        data.extend_from_slice(&src.data[start..start + ow * 3]);
    }
    RgbImage {
        width: ow,
        height: oh,
        data,
    }
}
