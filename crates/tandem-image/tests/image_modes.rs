//! Image decoding and RGB conversion for every mode, and Pillow's bicubic resize, against
//! Pillow outputs stored in `tests/data` (see its README).

use std::path::{Path, PathBuf};
use tandem_image::{
    decode_image, open_image, resize_bicubic, ImageError, ImageOptions, ImageProcessor, RgbImage,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn raw(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn png_modes_convert_to_rgb_exactly_like_transformers() {
    for name in ["grey", "grey_alpha", "rgba", "palette_transparent", "rgb16"] {
        let img = open_image(&data(&format!("{name}.png")), ImageOptions::default()).expect(name);
        assert_eq!((img.width, img.height), (23, 17), "{name}");
        assert_eq!(
            img.data,
            raw(&format!("{name}.rgb")),
            "{name}: RGB bytes differ from convert_to_rgb"
        );
    }
}

#[test]
fn cmyk_jpeg_decodes_to_rgb_exactly_like_pillow() {
    let img = open_image(&data("cmyk.jpg"), ImageOptions::default()).expect("cmyk");
    assert_eq!((img.width, img.height), (23, 17));
    assert_eq!(
        img.data,
        raw("cmyk.rgb"),
        "CMYK JPEG differs from Pillow by up to {} levels",
        max_diff(&img.data, &raw("cmyk.rgb"))
    );
}

#[test]
fn exif_orientation_is_applied_or_ignored_on_request() {
    let upright = open_image(&data("exif_rot6.jpg"), ImageOptions::default()).expect("exif");
    assert_eq!(
        (upright.width, upright.height),
        (17, 23),
        "orientation 6 rotates the stored 23×17"
    );
    assert_eq!(
        upright.data,
        raw("exif_rot6.rgb"),
        "differs from Pillow's exif_transpose by up to {}",
        max_diff(&upright.data, &raw("exif_rot6.rgb"))
    );
    let options = ImageOptions {
        apply_exif_orientation: false,
        ..Default::default()
    };
    let stored = open_image(&data("exif_rot6.jpg"), options).expect("raw");
    assert_eq!((stored.width, stored.height), (23, 17));
}

#[test]
fn bicubic_resize_is_bit_exact_with_pillow() {
    let spec: serde_json::Value =
        serde_json::from_slice(&raw("resize_pillow_bicubic.json")).expect("json");
    let src = RgbImage::new(61, 47, raw("resize_src_61x47.rgb")).expect("source");
    let expected = raw("resize_pillow_bicubic.rgb");
    let mut offset = 0;
    for size in spec["sizes"].as_array().expect("sizes") {
        let (w, h) = (
            size[0].as_u64().expect("w") as usize,
            size[1].as_u64().expect("h") as usize,
        );
        let out = resize_bicubic(&src, w, h);
        let want = &expected[offset..offset + w * h * 3];
        offset += w * h * 3;
        assert_eq!(
            out.data,
            want,
            "{w}×{h}: differs from Pillow (max {} levels)",
            max_diff(&out.data, want)
        );
    }
    assert_eq!(offset, expected.len());
}

#[test]
fn bad_images_are_clear_errors() {
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"definitely not an image".to_vec()),
        ("truncated png", raw("rgba.png")[..60].to_vec()),
        ("truncated jpeg", raw("cmyk.jpg")[..200].to_vec()),
    ] {
        match decode_image(&bytes, what, ImageOptions::default()) {
            Err(ImageError::Image {
                source_name,
                reason,
            }) => {
                assert_eq!(source_name, what);
                assert!(!reason.is_empty());
            }
            Err(other) => panic!("{what}: wrong error {other}"),
            Ok(img) => panic!(
                "{what}: decoded a broken image ({}×{})",
                img.width, img.height
            ),
        }
    }
    let missing = open_image(Path::new("/nonexistent/cat.jpg"), ImageOptions::default());
    assert!(matches!(missing, Err(ImageError::Io { .. })));
}

#[test]
fn any_aspect_ratio_preprocesses_to_the_crop() {
    let p = ImageProcessor::clip(32);
    for (w, h) in [
        (1, 1),
        (1, 500),
        (500, 1),
        (33, 32),
        (32, 33),
        (640, 480),
        (17, 23),
    ] {
        let img = RgbImage::new(w, h, vec![128; w * h * 3]).expect("image");
        let out = p
            .preprocess(&img)
            .unwrap_or_else(|e| panic!("{w}×{h}: {e}"));
        assert_eq!(out.len(), 3 * 32 * 32, "{w}×{h}");
        assert!(out.iter().all(|v| v.is_finite()));
    }
    assert_eq!(
        p.resized_size(480, 640),
        (32, 42),
        "long edge truncated like int()"
    );
    assert_eq!(p.resized_size(500, 1), (16000, 32));
}
