//! JPEG decoding exactly as Pillow 13 decodes it: the same library, libjpeg-turbo (3.1, built
//! from the source vendored in `turbojpeg-sys`), with the same settings Pillow's
//! `JpegDecode.c` leaves at libjpeg's defaults: the integer "slow" IDCT (`JDCT_ISLOW`) and
//! fancy (triangular) chroma upsampling, libjpeg's own guess of the colour space from the
//! JFIF/Adobe markers.
//!
//! Output per the file's components, as `JpegImagePlugin` chooses the mode:
//! - 1 component: grey (`L`);
//! - 3 components: RGB, converted by libjpeg (YCbCr, or none for Adobe RGB files);
//! - 4 components (CMYK, or YCCK that libjpeg converts to CMYK): Pillow reads them as
//!   `CMYK;I` (inverted, "Adobe conventions", whatever the markers say) and its `convert("RGB")`
//!   is `cmyk2rgb`; both are mirrored in [`cmyk_to_rgb`].
//!
//! Truncation is an error, as in Pillow (`image file is truncated`): a file whose last scan
//! does not reach the end-of-image marker is refused before decoding. (Pillow accepts a
//! baseline file that lacks only the final `FFD9`; such a file is refused here too.) Other
//! libjpeg warnings (extraneous bytes, a corrupt Huffman code) keep the decoded pixels, as
//! Pillow does.

pub(crate) mod markers;

use std::ffi::CStr;
use turbojpeg_sys as tj;

/// A decoded JPEG before conversion to RGB.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    /// Interleaved samples: 1 (grey), 3 (RGB) or 4 (CMYK as libjpeg outputs it).
    pub channels: usize,
    pub data: Vec<u8>,
}

/// The header: `(width, height, channels)`.
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pixel_format: tj::TJPF,
}

/// Owns a TurboJPEG decompressor instance.
struct Handle(tj::tjhandle);

impl Handle {
    fn new() -> Result<Self, String> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let h = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as _) };
        if h.is_null() {
            return Err("cannot create a JPEG decompressor".into());
        }
        Ok(Handle(h))
    }

    fn message(&self) -> String {
        // SAFETY: the handle is live; tj3GetErrorStr returns a NUL-terminated string it owns.
        let p = unsafe { tj::tj3GetErrorStr(self.0) };
        if p.is_null() {
            return "unknown JPEG error".into();
        }
        // SAFETY: non-null, NUL-terminated, valid until the next call on this handle.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    fn is_warning(&self) -> bool {
        // SAFETY: the handle is live.
        unsafe { tj::tj3GetErrorCode(self.0) == tj::TJERR_TJERR_WARNING as i32 }
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is live; unknown parameters return -1.
        unsafe { tj::tj3Get(self.0, param as _) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by tj3Init, destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

fn read_header(h: &Handle, bytes: &[u8]) -> Result<Header, String> {
    // SAFETY: the pointer and length describe `bytes`, which outlives the call.
    let rc = unsafe { tj::tj3DecompressHeader(h.0, bytes.as_ptr(), bytes.len() as _) };
    if rc != 0 {
        return Err(format!("corrupt JPEG header: {}", h.message()));
    }
    let (width, height) = (
        h.get(tj::TJPARAM_TJPARAM_JPEGWIDTH),
        h.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT),
    );
    let precision = h.get(tj::TJPARAM_TJPARAM_PRECISION);
    if precision != 8 {
        // Pillow: "cannot handle 12-bit layers".
        return Err(format!(
            "cannot handle {precision}-bit JPEG samples (only 8-bit)"
        ));
    }
    if width <= 0 || height <= 0 {
        return Err("JPEG has no pixels".into());
    }
    let (channels, pixel_format) = match h.get(tj::TJPARAM_TJPARAM_COLORSPACE) as tj::TJCS {
        tj::TJCS_TJCS_GRAY => (1, tj::TJPF_TJPF_GRAY),
        tj::TJCS_TJCS_RGB | tj::TJCS_TJCS_YCbCr => (3, tj::TJPF_TJPF_RGB),
        tj::TJCS_TJCS_CMYK | tj::TJCS_TJCS_YCCK => (4, tj::TJPF_TJPF_CMYK),
        other => return Err(format!("unsupported JPEG colour space {other}")),
    };
    Ok(Header {
        width: width as u32,
        height: height as u32,
        channels,
        pixel_format,
    })
}

/// The JPEG's dimensions and channel count, without decoding any pixel.
pub(crate) fn header(bytes: &[u8]) -> Result<Header, String> {
    read_header(&Handle::new()?, bytes)
}

/// Decodes a whole JPEG. `max_pixels` is checked against the header before the pixel buffer
/// is allocated.
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, String> {
    if !markers::walk(bytes).complete {
        return Err(format!(
            "image file is truncated (no end-of-image marker in {} bytes)",
            bytes.len()
        ));
    }
    let h = Handle::new()?;
    let head = read_header(&h, bytes)?;
    let pixels = u64::from(head.width) * u64::from(head.height);
    if pixels > max_pixels {
        return Err(format!(
            "image is {}x{} = {pixels} pixels, over the limit of {max_pixels}",
            head.width, head.height
        ));
    }
    let len = usize::try_from(pixels * head.channels as u64)
        .map_err(|_| "JPEG too large for memory".to_string())?;
    let pitch = head.width as usize * head.channels;
    let mut data = vec![0u8; len];
    // SAFETY: `data` holds `height` rows of `pitch` bytes in the requested pixel format, the
    // header was read from these same bytes by this handle.
    let rc = unsafe {
        tj::tj3Decompress8(
            h.0,
            bytes.as_ptr(),
            bytes.len() as _,
            data.as_mut_ptr(),
            pitch as _,
            head.pixel_format as _,
        )
    };
    if rc != 0 {
        let message = h.message();
        // Warnings leave a fully decoded image (Pillow ignores libjpeg's warnings), except the
        // one that says libjpeg ran out of data and padded the rest.
        if !h.is_warning() || message.contains("Premature end of JPEG file") {
            return Err(format!("cannot decode JPEG: {message}"));
        }
    }
    Ok(Decoded {
        width: head.width,
        height: head.height,
        channels: head.channels,
        data,
    })
}

/// Pillow's `MULDIV255`: `a·b/255` rounded, in integers.
fn muldiv255(a: u32, b: u32) -> u32 {
    let t = a * b + 128;
    ((t >> 8) + t) >> 8
}

/// CMYK samples as libjpeg outputs them → RGB exactly as Pillow: unpack `CMYK;I` (invert),
/// then `Convert.c` `cmyk2rgb`: `nk = 255 − k`, `channel = nk − c·nk/255`.
pub(crate) fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        // Inverted K is 255 − k, so `nk = 255 − (255 − k)` is the K sample itself.
        let nk = px[3] as u32;
        for &c in &px[..3] {
            let inverted = 255 - c as u32;
            out.push(nk.saturating_sub(muldiv255(inverted, nk)).min(255) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muldiv255_rounds_like_the_exact_quotient() {
        for a in 0..=255u32 {
            for b in [0u32, 1, 128, 254, 255] {
                let exact = (a * b) as f64 / 255.0;
                assert!(
                    (muldiv255(a, b) as f64 - exact).abs() <= 0.5 + 1e-9,
                    "{a}·{b}"
                );
            }
        }
    }

    #[test]
    fn cmyk_white_and_black() {
        // libjpeg output for Adobe files is inverted: 255 means no ink.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255]), [0, 255, 255]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(header(b"\xFF\xD8\xFF\xE0garbage").is_err());
        assert!(decode(b"", 100).is_err());
    }
}
