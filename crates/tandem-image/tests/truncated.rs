//! Truncated files are errors for every format, as Pillow raises `image file is truncated` by
//! default (`ImageFile.LOAD_TRUNCATED_IMAGES = False`): never a silently grey or partial image.

use std::path::Path;
use tandem_image::{decode_image, ImageError, ImageOptions};

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_format_cut_short_is_an_error() {
    let files = [
        "tests/fixtures/pillow/jpeg_s420.jpg",
        "tests/fixtures/pillow/jpeg_progressive.jpg",
        "tests/fixtures/pillow/jpeg_restart.jpg",
        "tests/fixtures/pillow/jpeg_grey.jpg",
        "tests/fixtures/pillow/jpeg_cmyk.jpg",
        "tests/data/rgba.png",
        "tests/data/rgb16.png",
        "tests/fixtures/pillow/webp_lossy.webp",
        "tests/fixtures/pillow/webp_lossless.webp",
        "tests/fixtures/pillow/gif.gif",
        "tests/fixtures/pillow/bmp.bmp",
        "tests/fixtures/pillow/tiff.tiff",
        "tests/fixtures/pillow/tiff_lzw.tiff",
    ];
    // Cuts Pillow 13 itself loads: this one ends inside a trailing tag's data (the ICC profile,
    // tag 34675, after the LZW strips), which Pillow skips with a warning; so do we.
    let pillow_loads = [("tests/fixtures/pillow/tiff_lzw.tiff", 90)];
    let mut accepted = Vec::new();
    for rel in files {
        let bytes = read(rel);
        decode_image(&bytes, rel, ImageOptions::default())
            .unwrap_or_else(|e| panic!("the whole file must decode: {e}"));
        for percent in [1, 10, 50, 90] {
            let cut = (bytes.len() * percent / 100).max(1);
            if pillow_loads.contains(&(rel, percent)) {
                let img = decode_image(&bytes[..cut], rel, ImageOptions::default())
                    .expect("Pillow loads this cut");
                assert_eq!((img.width, img.height), (40, 30));
                continue;
            }
            match decode_image(&bytes[..cut], rel, ImageOptions::default()) {
                Err(ImageError::Image {
                    source_name,
                    reason,
                }) => {
                    assert_eq!(source_name, rel);
                    assert!(!reason.is_empty());
                }
                Err(other) => panic!("{rel} cut to {percent}%: wrong error kind {other}"),
                Ok(img) => accepted.push(format!(
                    "{rel} cut to {percent}% ({cut} of {} bytes) decoded as {}x{}",
                    bytes.len(),
                    img.width,
                    img.height
                )),
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "truncated images were accepted:\n  {}",
        accepted.join("\n  ")
    );
}

#[test]
fn a_jpeg_cut_just_before_its_end_marker_is_truncated() {
    let bytes = read("tests/fixtures/pillow/jpeg_s420.jpg");
    let e = decode_image(
        &bytes[..bytes.len() - 2],
        "cut.jpg",
        ImageOptions::default(),
    )
    .expect_err("truncated");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn junk_after_the_end_marker_is_fine() {
    let mut bytes = read("tests/fixtures/pillow/jpeg_s420.jpg");
    let whole = decode_image(&bytes, "a.jpg", ImageOptions::default()).expect("decodes");
    bytes.extend_from_slice(b"trailing junk");
    assert_eq!(
        decode_image(&bytes, "a.jpg", ImageOptions::default()).expect("decodes"),
        whole
    );
}
