//! A walk over a JPEG's marker segments, without decoding: where the EXIF block is, and
//! whether the file reaches its end-of-image marker (a truncated file does not).
//!
//! Entropy-coded data never contains a bare `0xFF` followed by anything but `0x00` (byte
//! stuffing) or a restart marker `0xD0..=0xD7`, so the first other marker after a scan is real.

/// What the walk found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Markers<'a> {
    /// The TIFF block of the first `APP1` `Exif\0\0` segment (starts with `II*\0` or `MM\0*`).
    pub exif: Option<&'a [u8]>,
    /// The end-of-image marker `FFD9` was reached: every segment and scan is complete.
    pub complete: bool,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP1: u8 = 0xE1;

/// Walks `bytes` from the start-of-image marker. Never reads out of bounds: a segment that
/// runs past the end leaves `complete` false.
pub(crate) fn walk(bytes: &[u8]) -> Markers<'_> {
    let mut found = Markers::default();
    if bytes.len() < 2 || bytes[0] != 0xFF || bytes[1] != SOI {
        return found;
    }
    let mut i = 2;
    loop {
        // Find the next marker: 0xFF, any fill 0xFF bytes, then the marker code.
        while i < bytes.len() && bytes[i] != 0xFF {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = bytes.get(i) else {
            return found;
        };
        i += 1;
        match code {
            EOI => {
                found.complete = true;
                return found;
            }
            0x01 | 0xD0..=0xD7 => continue, // TEM and restart markers carry no length
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return found;
        };
        if len < 2 || i + len > bytes.len() {
            return found;
        }
        let body = &bytes[i + 2..i + len];
        if code == APP1 && found.exif.is_none() && body.starts_with(b"Exif\0\0") {
            found.exif = Some(&body[6..]);
        }
        i += len;
        if code == SOS {
            i = skip_entropy_coded(bytes, i);
        }
    }
}

/// The index of the first real marker (`0xFF` followed by neither `0x00` nor a restart code)
/// at or after `i`, or `bytes.len()` when the data ends first.
fn skip_entropy_coded(bytes: &[u8], mut i: usize) -> usize {
    while i + 1 < bytes.len() {
        if bytes[i] == 0xFF && !matches!(bytes[i + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(code: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    fn jpeg(exif: &[u8], scan: &[u8]) -> Vec<u8> {
        let mut b = vec![0xFF, SOI];
        b.extend(segment(0xE0, b"JFIF\0\x01\x01"));
        b.extend(segment(APP1, &[b"Exif\0\0".as_slice(), exif].concat()));
        b.extend(segment(SOS, &[1, 1, 0, 0, 63, 0]));
        b.extend_from_slice(scan);
        b.extend_from_slice(&[0xFF, EOI]);
        b
    }

    #[test]
    fn finds_exif_and_the_end_through_stuffed_bytes_and_restarts() {
        let bytes = jpeg(
            b"II*\0rest",
            &[1, 0xFF, 0x00, 2, 0xFF, 0xD3, 3, 0xFF, 0xFF, 0x00],
        );
        let m = walk(&bytes);
        assert_eq!(m.exif, Some(b"II*\0rest".as_slice()));
        assert!(m.complete);
    }

    #[test]
    fn every_cut_is_incomplete() {
        let bytes = jpeg(b"MM\0*", &[1, 2, 3, 0xFF, 0x00, 4]);
        for cut in 0..bytes.len() {
            assert!(
                !walk(&bytes[..cut]).complete,
                "cut at {cut} of {}",
                bytes.len()
            );
        }
    }

    #[test]
    fn not_a_jpeg_is_incomplete() {
        assert_eq!(walk(b"\x89PNG"), Markers::default());
        assert_eq!(walk(&[]), Markers::default());
    }
}
