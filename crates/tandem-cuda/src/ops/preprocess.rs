//! Image preprocessing on the device (`preprocess.cu`): an 8-bit RGB image uploaded once, then
//! Pillow's bicubic resize and the processor's rescale + normalize as kernels, producing the
//! model's `[3, h, w]` pixel values next to the model.
//!
//! The resize weights are computed here on the host exactly as Pillow's `precompute_coeffs` and
//! `normalize_coeffs_8bpc` do (`libImaging/Resample.c`; the CPU path in `tandem-clip` mirrors
//! the same routine), and the kernels accumulate in the same integer arithmetic, so the device
//! result equals the CPU path's bytes (the bar is within one 8-bit level).

use super::{entry, fits_u32, grid_1d, launched};
use crate::error::{CudaError, Result};
use crate::CudaBackend;
use cudarc::driver::{CudaSlice, DeviceRepr, PushKernelArg};
use tandem_tensor::{DType, Tensor};

const PRECISION_BITS: u32 = 32 - 8 - 2;

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

/// Resize weights along one axis: `(xmin, n)` per output pixel, `ksize` fixed-point weights each.
#[derive(Debug, PartialEq)]
pub struct Coeffs {
    pub bounds: Vec<u32>,
    pub weights: Vec<i32>,
    pub ksize: usize,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for `in_size → out_size` (both > 0).
pub fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(2 * out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
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
            weights[xx * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.extend([xmin as u32, xmax as u32]);
    }
    Coeffs {
        bounds,
        weights,
        ksize,
    }
}

/// `NormalizeParams` of `preprocess.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct NormalizeParams {
    rescale: f32,
    mean: [f32; 3],
    inv_std: [f32; 3],
}

// SAFETY: `#[repr(C)]` floats, as the CUDA struct.
unsafe impl DeviceRepr for NormalizeParams {}

/// A pooled scratch buffer, returned to the pool when dropped.
struct Scratch<'a> {
    be: &'a CudaBackend,
    buf: Option<CudaSlice<u8>>,
}

impl<'a> Scratch<'a> {
    fn new(be: &'a CudaBackend, bytes: usize) -> Result<Self> {
        Ok(Scratch {
            be,
            buf: Some(be.device().alloc(be.stream(), bytes.max(1))?),
        })
    }
    fn upload(be: &'a CudaBackend, data: &[u8]) -> Result<Self> {
        let mut s = Scratch::new(be, data.len())?;
        if !data.is_empty() {
            be.stream()
                .memcpy_htod(data, s.buf_mut()?)
                .map_err(CudaError::driver("upload"))?;
        }
        Ok(s)
    }
    fn buf(&self) -> Result<&CudaSlice<u8>> {
        self.buf.as_ref().ok_or_else(|| CudaError::Unsupported {
            op: "preprocess",
            message: "scratch buffer released".into(),
        })
    }
    fn buf_mut(&mut self) -> Result<&mut CudaSlice<u8>> {
        self.buf.as_mut().ok_or_else(|| CudaError::Unsupported {
            op: "preprocess",
            message: "scratch buffer released".into(),
        })
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.be.device().release(b);
        }
    }
}

fn words<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// One resize pass. `horizontal`: `[rows, in_len, 3] → [rows, out_len, 3]` reading rows from
/// `row_offset`; otherwise `[.., width, 3] → [out_len, width, 3]` with `row_offset` subtracted
/// from the weights' first rows.
#[allow(clippy::too_many_arguments)]
fn pass<'a>(
    be: &'a CudaBackend,
    src: &Scratch<'a>,
    c: &Coeffs,
    horizontal: bool,
    rows_or_width: usize,
    in_len: usize,
    out_len: usize,
    row_offset: usize,
) -> Result<Scratch<'a>> {
    let total = rows_or_width * out_len * 3;
    let mut dst = Scratch::new(be, total)?;
    let bounds = Scratch::upload(be, words(&c.bounds))?;
    let weights = Scratch::upload(be, words(&c.weights))?;
    let (a, i, o, off, k) = (
        fits_u32("resize", rows_or_width)?,
        fits_u32("resize", in_len)?,
        fits_u32("resize", out_len)?,
        fits_u32("resize", row_offset)?,
        fits_u32("resize", c.ksize)?,
    );
    fits_u32("resize", total)?;
    let name = if horizontal {
        "resample_horizontal_u8"
    } else {
        "resample_vertical_u8"
    };
    let f = be.device().function("preprocess", name)?;
    let mut l = be.stream().launch_builder(&f);
    l.arg(src.buf()?).arg(dst.buf_mut()?);
    if horizontal {
        l.arg(&a).arg(&i).arg(&o).arg(&off);
    } else {
        l.arg(&o).arg(&a).arg(&off);
    }
    l.arg(bounds.buf()?).arg(weights.buf()?).arg(&k);
    // SAFETY: arguments match the resample kernel's signature; the bounds stay inside the
    // input (Pillow's coefficient rules) and the output holds `total` bytes.
    launched(be, &f, unsafe { l.launch(grid_1d(total)) })?;
    Ok(dst)
}

impl CudaBackend {
    /// `[3, out_h, out_w]` pixel values of an interleaved 8-bit RGB image (`width × height × 3`
    /// bytes): Pillow's bicubic resize to `out_w × out_h`, then `(x · rescale - mean[c]) / std[c]`,
    /// stored as `dtype`. What `BlipImageProcessor` (384 × 384) and `CLIPImageProcessor` (224
    /// after the shortest-edge resize and a center crop, which the caller does by choosing
    /// `out_w`/`out_h` and cropping the result with `narrow`) compute, with one u8 upload.
    #[allow(clippy::too_many_arguments)]
    pub fn resize_normalize(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        out_w: usize,
        out_h: usize,
        rescale: f32,
        mean: [f32; 3],
        std: [f32; 3],
        dtype: DType,
    ) -> tandem_tensor::Result<Tensor<CudaBackend>> {
        let op = "resize_normalize";
        if width.checked_mul(height).and_then(|p| p.checked_mul(3)) != Some(rgb.len()) {
            return Err(tandem_tensor::Error::DataLength {
                op,
                len: rgb.len(),
                expected: width * height * 3,
                shape: vec![height, width, 3],
            });
        }
        if width == 0 || height == 0 || out_w == 0 || out_h == 0 {
            return Err(tandem_tensor::Error::InvalidArgument {
                op,
                message: format!("{width}×{height} → {out_w}×{out_h} has an empty side"),
            });
        }
        if !dtype.is_float() || std.contains(&0.0) {
            return Err(tandem_tensor::Error::InvalidArgument {
                op,
                message: format!("dtype {dtype} with std {std:?}"),
            });
        }
        let src = Scratch::upload(self, rgb)?;
        let vert = (out_h != height).then(|| coeffs(height, out_h));
        let (first, last) = match &vert {
            Some(v) => (
                v.bounds[0] as usize,
                (v.bounds[2 * out_h - 2] + v.bounds[2 * out_h - 1]) as usize,
            ),
            None => (0, height),
        };
        let horiz = if out_w != width {
            Some(pass(
                self,
                &src,
                &coeffs(width, out_w),
                true,
                last - first,
                width,
                out_w,
                first,
            )?)
        } else {
            None
        };
        let resized = match (&vert, horiz) {
            (Some(v), Some(h)) => pass(self, &h, v, false, out_w, last - first, out_h, first)?,
            (Some(v), None) => pass(self, &src, v, false, out_w, height, out_h, 0)?,
            (None, Some(h)) => h,
            (None, None) => src,
        };
        let pixels = out_w * out_h;
        let mut out = super::alloc(self, 3 * pixels, dtype)?;
        let p = NormalizeParams {
            rescale,
            mean,
            inv_std: std.map(|s| 1.0 / s),
        };
        let n = fits_u32(op, pixels)?;
        fits_u32(op, 3 * pixels)?;
        let f = self
            .device()
            .function("preprocess", &entry("normalize", dtype))?;
        let mut l = self.stream().launch_builder(&f);
        l.arg(resized.buf()?).arg(out.buf_mut()).arg(&n).arg(&p);
        // SAFETY: arguments match `normalize_<dtype>`; `resized` holds `pixels × 3` bytes.
        launched(self, &f, unsafe { l.launch(grid_1d(3 * pixels)) })?;
        Ok(Tensor::from_storage(
            out,
            &[3, out_h, out_w],
            dtype,
            self.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (inp, out) in [(640, 224), (224, 640), (10, 3), (3, 10), (1000, 384)] {
            let c = coeffs(inp, out);
            for xx in 0..out {
                let n = c.bounds[2 * xx + 1] as usize;
                let sum: i64 = c.weights[xx * c.ksize..xx * c.ksize + n]
                    .iter()
                    .map(|&w| w as i64)
                    .sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= n as i64,
                    "{inp}->{out} pixel {xx}: {sum}"
                );
                assert!(
                    c.bounds[2 * xx] as usize + n <= inp,
                    "{inp}->{out} pixel {xx} reads past the input"
                );
            }
        }
    }
}
