//! Bit-exactness with Pillow 13 on the corpus written by `xtask/fixtures/image_fixtures.py`
//! (`tests/fixtures/pillow/`, hashed in `xtask/fixtures/MANIFEST.json`): JPEG decoding of every
//! kind libjpeg-turbo has a code path for, the bicubic resize on both sides of Pillow's
//! pass-order rule, and every input format converted to RGB as transformers does.

use std::path::{Path, PathBuf};
use tandem_image::{
    decode_image, horizontal_pass_first, resize_bicubic, resize_bicubic_window, ImageOptions,
    RgbImage,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pillow")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| {
        panic!("{name}: {e} (regenerate with xtask/fixtures/image_fixtures.py)")
    })
}

fn cases() -> serde_json::Value {
    serde_json::from_slice(&read("cases.json")).expect("cases.json")
}

/// `(differing values, largest difference)`.
fn diff(a: &[u8], b: &[u8]) -> (usize, u8) {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let n = a.iter().zip(b).filter(|(x, y)| x != y).count();
    (
        n,
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0),
    )
}

fn size(v: &serde_json::Value) -> (usize, usize) {
    (
        v[0].as_u64().expect("w") as usize,
        v[1].as_u64().expect("h") as usize,
    )
}

fn check_decoded(file: &str, expected: &str, want_size: (usize, usize)) -> Option<String> {
    let img = match decode_image(&read(file), file, ImageOptions::default()) {
        Ok(img) => img,
        Err(e) => return Some(format!("{file}: {e}")),
    };
    if (img.width, img.height) != want_size {
        return Some(format!(
            "{file}: {}x{} instead of {want_size:?}",
            img.width, img.height
        ));
    }
    let (n, max) = diff(&img.data, &read(expected));
    (n > 0).then(|| {
        format!(
            "{file}: {n} of {} values differ from Pillow, by up to {max}",
            img.data.len()
        )
    })
}

#[test]
fn jpeg_decoding_is_bit_exact_with_pillow() {
    let cases = cases();
    let jpegs = cases["jpeg"].as_array().expect("jpeg cases");
    assert!(jpegs.len() >= 15, "the corpus lost cases");
    let failures: Vec<String> = jpegs
        .iter()
        .filter_map(|c| {
            let name = c["name"].as_str().expect("name");
            check_decoded(
                &format!("jpeg_{name}.jpg"),
                &format!("jpeg_{name}.rgb"),
                size(&c["size"]),
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "JPEG pixels differ from Pillow's:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn every_listed_format_converts_to_rgb_like_transformers() {
    let cases = cases();
    let formats = cases["formats"].as_array().expect("format cases");
    let failures: Vec<String> = formats
        .iter()
        .filter_map(|c| {
            let file = c["file"].as_str().expect("file");
            let stem = file.rsplit_once('.').expect("extension").0;
            check_decoded(file, &format!("{stem}.rgb"), size(&c["size"]))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "decoded pixels differ from Pillow's:\n  {}",
        failures.join("\n  ")
    );
    for ext in ["webp", "gif", "bmp", "tiff"] {
        assert!(
            formats
                .iter()
                .any(|c| c["file"].as_str().is_some_and(|f| f.ends_with(ext))),
            "no {ext} case"
        );
    }
}

#[test]
fn bicubic_resize_is_bit_exact_with_pillow_in_both_pass_orders() {
    let cases = cases();
    let out = read("resize_out.rgb");
    let (mut vertical_first, mut horizontal_first) = (0, 0);
    let mut failures = Vec::new();
    for c in cases["resize"].as_array().expect("resize cases") {
        let (sw, sh) = size(&c["src"]);
        let (w, h) = size(&c["out"]);
        let src =
            RgbImage::new(sw, sh, read(&format!("resize_src_{sw}x{sh}.rgb"))).expect("source");
        let got = match c["window"].as_array() {
            Some(win) => {
                let v: Vec<usize> = win
                    .iter()
                    .map(|x| x.as_u64().expect("window") as usize)
                    .collect();
                resize_bicubic_window(&src, w, h, v[0]..v[0] + v[2], v[1]..v[1] + v[3])
            }
            None => resize_bicubic(&src, w, h),
        };
        let offset = c["offset"].as_u64().expect("offset") as usize;
        let want = &out[offset..offset + got.data.len()];
        if horizontal_pass_first(sw, sh, w, h) {
            horizontal_first += 1;
        } else {
            vertical_first += 1;
        }
        let (n, max) = diff(&got.data, want);
        if n > 0 {
            failures.push(format!(
                "{sw}x{sh} -> {w}x{h}: {n} values differ, by up to {max}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "resize differs from Pillow 13:\n  {}",
        failures.join("\n  ")
    );
    assert!(
        vertical_first >= 5 && horizontal_first >= 5,
        "both pass orders must be covered"
    );
}
