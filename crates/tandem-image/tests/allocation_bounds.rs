//! Every allocation is computed and capped from headers and configs first: peak heap use is
//! measured with a counting global allocator (deterministic: bytes, not time). One test function,
//! so no other test shares the counter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tandem_image::{
    decode_image, BlipImageProcessor, ImageError, ImageOptions, ImageProcessor, RgbImage,
    MAX_OUTPUT_SIDE,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak bytes allocated above the starting level while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

const MIB: usize = 1 << 20;

fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .expect("encode");
    bytes
}

#[test]
fn allocations_are_bounded_by_headers_and_configs() {
    // 1 × 300,000: CLIP resizes the short side to 224 (224 × 67,200,000) then crops 224 × 224.
    let thin = png(&image::RgbImage::from_fn(1, 300_000, |_, y| {
        image::Rgb([(y % 256) as u8, 7, 200])
    }));
    let (pixels, peak) = peak_during(|| {
        let img = decode_image(&thin, "thin", ImageOptions::default()).expect("decodes");
        ImageProcessor::clip(224)
            .preprocess(&img)
            .expect("preprocesses")
    });
    assert_eq!(pixels.len(), 3 * 224 * 224);
    assert!(peak < 16 * MIB, "1x300000 image: peak {} MiB", peak / MIB);
    // BLIP's exact resize has no crop: the output is its fixed size, whatever the input.
    let img = decode_image(&thin, "thin", ImageOptions::default()).expect("decodes");
    let (out, peak) = peak_during(|| BlipImageProcessor::new(384).preprocess(&img).expect("blip"));
    assert_eq!(out.len(), 3 * 384 * 384);
    assert!(peak < 16 * MIB, "BLIP 1x300000: peak {} MiB", peak / MIB);

    // A PNG whose ICC profile inflates to 64 MiB: decoded within the metadata budget.
    let bomb = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pillow/icc_bomb.png"),
    )
    .expect("fixture");
    let want = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pillow/icc_bomb.rgb"),
    )
    .expect("fixture");
    let (img, peak) = peak_during(|| decode_image(&bomb, "icc_bomb.png", ImageOptions::default()));
    assert_eq!(img.expect("pixels decode").data, want);
    assert!(peak < 24 * MIB, "ICC bomb: peak {} MiB", peak / MIB);

    // A header that claims more pixels than the limit is refused before any pixel buffer.
    let big = png(&image::RgbImage::new(3000, 3000));
    let small_limit = ImageOptions {
        max_pixels: 1_000_000,
        ..Default::default()
    };
    let (r, peak) = peak_during(|| decode_image(&big, "big.png", small_limit));
    match r {
        Err(ImageError::Image { reason, .. }) => {
            assert!(reason.contains("over the limit"), "{reason}")
        }
        other => panic!("a 9-Mpixel image passed a 1-Mpixel limit: {other:?}"),
    }
    assert!(
        peak < 4 * MIB,
        "refusing a too-large header still allocated {} MiB",
        peak / MIB
    );

    // A processor config asking for a 100000-pixel side is refused at load, allocating nothing big.
    let (r, peak) =
        peak_during(|| ImageProcessor::from_json(r#"{"size": {"shortest_edge": 100000}}"#, 224));
    let e = r.expect_err("size 100000 must be refused");
    assert!(
        e.to_string().contains("100000") && e.to_string().contains("shortest_edge"),
        "{e}"
    );
    assert!(peak < MIB);
    for json in [
        r#"{"crop_size": 100000}"#,
        r#"{"size": {"height": 0, "width": 5}}"#,
        r#"{"image_std": [0.5, 0, 0.5]}"#,
    ] {
        assert!(
            ImageProcessor::from_json(json, 224).is_err(),
            "{json} accepted"
        );
    }
    assert!(
        ImageProcessor::from_json("{}", MAX_OUTPUT_SIDE + 1).is_err(),
        "an image_size above the cap"
    );

    // No crop configured and an extreme aspect ratio: refused, not a multi-GB resize.
    let mut no_crop = ImageProcessor::clip(224);
    no_crop.crop = None;
    let tiny = RgbImage::new(1, 300_000, vec![9; 900_000]).expect("image");
    let (r, peak) = peak_during(|| no_crop.preprocess(&tiny));
    assert!(r.is_err(), "224 x 67,200,000 resize accepted");
    assert!(
        peak < MIB,
        "refusing the resize allocated {} MiB",
        peak / MIB
    );
}
