//! Reading and decoding one input with limits, so one bad file fails only itself.
//!
//! Decompression bombs are refused before any pixel is decoded: the byte count is checked
//! while reading, and the width × height from the image header against `max_pixels`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_image::{decode_image, ImageError, ImageOptions, RgbImage};

use crate::input::{InputRef, InputSource};

/// Limits applied to every input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted file (or download), in bytes.
    pub max_bytes: u64,
    /// Largest accepted width × height. Pillow's default bomb limit is about 89.5 million.
    pub max_pixels: u64,
    /// Timeout for fetching a URL.
    pub url_timeout: Duration,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_bytes: 64 << 20,
            max_pixels: 89_478_485,
            url_timeout: Duration::from_secs(20),
        }
    }
}

/// A decoded image shared between pipeline branches without copying its pixels. Its `Debug`
/// prints only the size (element values are printed in error messages).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "ImageWire", from = "ImageWire")]
pub struct SharedImage(pub Arc<RgbImage>);

#[derive(Serialize, Deserialize)]
struct ImageWire {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl From<SharedImage> for ImageWire {
    fn from(s: SharedImage) -> Self {
        ImageWire {
            width: s.0.width,
            height: s.0.height,
            data: s.0.data.clone(),
        }
    }
}

impl From<ImageWire> for SharedImage {
    fn from(w: ImageWire) -> Self {
        SharedImage(Arc::new(RgbImage {
            width: w.width,
            height: w.height,
            data: w.data,
        }))
    }
}

impl std::fmt::Debug for SharedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.0.width, self.0.height)
    }
}

/// Reads the bytes of `input`, refusing more than `limits.max_bytes` and empty files.
///
/// A path that is not a regular file (a FIFO, a character or block device, a socket, a
/// folder) is refused from its metadata without being opened: opening a FIFO blocks until a
/// writer comes and `/dev/zero` never ends. The file is then opened non-blocking and checked
/// again on the open handle, so a path swapped for a FIFO in between cannot hang the run, and
/// read with the size limit applied to the bytes actually read (files in `/proc` report a
/// size of 0).
pub fn read_bytes(input: &InputRef, limits: &ImageLimits) -> Result<Vec<u8>, String> {
    let bytes = match &input.source {
        InputSource::File(path) => read_file(path, limits)?,
        InputSource::Url(url) => fetch_url(url, limits)?,
        InputSource::Refused(reason) => return Err(reason.clone()),
    };
    if bytes.is_empty() {
        return Err(String::from("empty file (0 bytes)"));
    }
    Ok(bytes)
}

fn read_file(path: &Path, limits: &ImageLimits) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| cannot_read(path, &e))?;
    if let Some(kind) = not_regular(&meta.file_type()) {
        return Err(format!("{kind}, not a regular file: not read"));
    }
    if meta.len() > limits.max_bytes {
        return Err(over_limit(meta.len(), limits));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| cannot_read(path, &e))?;
    let meta = file.metadata().map_err(|e| cannot_read(path, &e))?;
    if let Some(kind) = not_regular(&meta.file_type()) {
        return Err(format!("{kind}, not a regular file: not read"));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limits.max_bytes) as usize);
    file.take(limits.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(path, &e))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(over_limit(bytes.len() as u64, limits));
    }
    Ok(bytes)
}

fn over_limit(len: u64, limits: &ImageLimits) -> String {
    format!(
        "file is {len} bytes or more, over the limit of {} (--max-bytes)",
        limits.max_bytes
    )
}

/// `cannot read file: …`, naming a dangling or looping symbolic link as such (the OS error
/// alone says "No such file or directory" for a link that is right there).
fn cannot_read(path: &Path, e: &std::io::Error) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match (is_link, std::fs::read_link(path)) {
        (true, Ok(target)) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "broken symbolic link (its target {} does not exist)",
            target.display()
        ),
        (true, _) => format!("cannot follow symbolic link: {e}"),
        _ => format!("cannot read file: {e}"),
    }
}

/// What kind of non-regular file `t` is, or `None` for a regular file.
fn not_regular(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("a special file")
}

fn fetch_url(url: &str, limits: &ImageLimits) -> Result<Vec<u8>, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(limits.url_timeout)
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => format!("URL answered HTTP {code}"),
        ureq::Error::Transport(t) => format!("URL unreachable: {t}"),
    })?;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(limits.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("download interrupted: {e}"))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(format!(
            "download is over the limit of {} bytes (--max-bytes)",
            limits.max_bytes
        ));
    }
    Ok(bytes)
}

/// Decodes to RGB with `tandem-image`, which checks the header's width × height against
/// `limits.max_pixels` before any pixel is decoded and refuses truncated files.
pub fn decode_with_limits(
    bytes: &[u8],
    name: &str,
    limits: &ImageLimits,
) -> Result<RgbImage, String> {
    let options = ImageOptions {
        max_pixels: limits.max_pixels,
        ..ImageOptions::default()
    };
    decode_image(bytes, name, options).map_err(|e| match e {
        // The input's name is already the record's key: keep only the reason.
        ImageError::Image { reason, .. } if reason.contains("over the limit") => {
            format!("{reason} (--max-pixels)")
        }
        ImageError::Image { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// Reads and decodes one input: `(id, image)` or the reason it cannot be used.
pub fn load(input: &InputRef, limits: &ImageLimits) -> Result<(String, SharedImage), String> {
    let bytes = read_bytes(input, limits)?;
    let image = decode_with_limits(&bytes, &input.id, limits)?;
    Ok((input.id.clone(), SharedImage(Arc::new(image))))
}

/// A JPEG thumbnail no larger than `max_side`, as a `data:` URI for the HTML page.
pub fn thumbnail_data_uri(image: &RgbImage, max_side: u32) -> Option<String> {
    use base64::Engine as _;
    let buf =
        image::RgbImage::from_raw(image.width as u32, image.height as u32, image.data.clone())?;
    let (w, h) = (image.width as u32, image.height as u32);
    let scale = f64::from(max_side) / f64::from(w.max(h));
    let small = if scale < 1.0 {
        let nw = ((f64::from(w) * scale).round() as u32).max(1);
        let nh = ((f64::from(h) * scale).round() as u32).max(1);
        image::imageops::resize(&buf, nw, nh, image::imageops::FilterType::Triangle)
    } else {
        buf
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&small)
        .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_an_image() {
        let e = decode_with_limits(b"hello, world", "x", &ImageLimits::default()).unwrap_err();
        assert!(e.contains("not an image"), "{e}");
    }

    #[test]
    fn truncated_png_header_is_reported() {
        let e =
            decode_with_limits(b"\x89PNG\r\n\x1a\n\0\0", "x", &ImageLimits::default()).unwrap_err();
        assert!(e.contains("corrupt") || e.contains("image"), "{e}");
    }

    #[test]
    fn too_many_pixels_names_the_flag() {
        let mut png = Vec::new();
        image::RgbImage::new(30, 30)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let limits = ImageLimits {
            max_pixels: 100,
            ..ImageLimits::default()
        };
        let e = decode_with_limits(&png, "x", &limits).unwrap_err();
        assert!(e.contains("--max-pixels") && e.contains("900"), "{e}");
    }
}
