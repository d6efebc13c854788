//! Image → caption end to end: `BlipImageProcessor` parity on the committed photos (within
//! 1/255 before normalisation), and the `ModelHandler` producing the reference captions.

mod common;

use common::{fixture, Fixture, CONFIGS};
use std::path::PathBuf;
use tandem_blip::{
    open_image, BlipExample, BlipHandler, BlipImage, BlipImageProcessor, GenerationConfig,
    ImageOptions, Pixels, RgbImage,
};
use tandem_handler::ModelHandler;
use tandem_tensor::{Backend, CpuBackend, DType};
use tandem_tensor_testing::{assert_close, Close};

fn photo(name: &str) -> RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/images")
        .join(name);
    open_image(&path, ImageOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// `pixel_values` of every photo at the fixture's size, and of one photo at BLIP's 384.
pub fn pixel_values_match<B: Backend>(backend: &B, config: &str) {
    let fx = fixture(config);
    let tol = fx.info["tolerances"]["pixel_values_abs"].as_f64().unwrap() as f32;
    let (shape, want) = fx.tensor("pixel_values");
    let processor = BlipImageProcessor::from_dir(&fx.dir, shape[2]).unwrap();
    let photos: Vec<RgbImage> = fx.images().iter().map(|n| photo(n)).collect();
    let refs: Vec<&RgbImage> = photos.iter().collect();
    let got = processor.pixel_values(backend, &refs).unwrap();
    let dims = got.dims().to_vec();
    let got = got.to_vec_f32().unwrap();
    // One 8-bit level is the tolerance; f32 rounding of the normalisation adds a few ulps.
    let tol = tol * (1.0 + 1e-5);
    let off = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| (*a - *b).abs() > 1e-4)
        .count();
    let r = assert_close(
        &format!("{config} pixel_values"),
        &dims,
        &got,
        &shape,
        &want,
        Close::abs(tol as f64),
    );
    println!(
        "{config} pixel_values: {r} (tolerance {tol:.3e}); {off} of {} values off by one level",
        got.len()
    );
    if let Some(name) = fx.info["image_384"].as_str() {
        let (shape, want) = fx.tensor("pixel_values_384");
        let got = BlipImageProcessor::new(384)
            .pixel_values(backend, &[&photo(name)])
            .unwrap();
        // The reference is stored as f16: allow its rounding (≤ 2^-11 relative, values ≤ 2.2
        // in magnitude after normalisation) on top of one level.
        let r = assert_close(
            &format!("{config} pixel_values_384 ({name})"),
            got.dims(),
            &got.to_vec_f32().unwrap(),
            &shape,
            &want,
            Close::abs((tol + 2.2 * 2f32.powi(-11)) as f64),
        );
        println!("{config} pixel_values_384 ({name}): {r}");
    }
}

#[test]
fn cpu_pixel_values_match() {
    CONFIGS
        .iter()
        .for_each(|c| pixel_values_match(&CpuBackend, c));
}

/// The handler loads the checkpoint once and captions decoded photos with `inference_args`.
#[test]
fn handler_captions_photos_like_transformers() {
    for config in CONFIGS {
        let fx = fixture(config);
        let handler = BlipHandler::new(&fx.dir, CpuBackend, DType::F32);
        let model = handler.load_model().unwrap();
        let examples: Vec<BlipImage> = fx
            .images()
            .iter()
            .map(|n| BlipImage {
                key: n.clone(),
                image: photo(n),
            })
            .collect();
        let batch: Vec<&BlipImage> = examples.iter().collect();
        for (run, args) in [
            ("greedy", "{}"),
            (
                "beam3_prompt",
                r#"{"num_beams": 3, "prompt": "a picture of"}"#,
            ),
        ] {
            let mut args = GenerationConfig::from_json(args).unwrap();
            args.max_length = fx.info["generation"]["max_length"].as_u64().unwrap() as usize;
            let out = handler.run_inference(&batch, &model, &args).unwrap();
            assert_eq!(out.len(), batch.len());
            // The same images preprocessed by a step of their own caption identically.
            let pixels: Vec<Pixels> = examples
                .iter()
                .map(|e| e.pixels(&model.processor).unwrap().into_owned())
                .collect();
            let pixel_batch: Vec<&Pixels> = pixels.iter().collect();
            let pixel_handler = BlipHandler::new(&fx.dir, CpuBackend, DType::F32);
            assert_eq!(
                pixel_handler
                    .run_inference(&pixel_batch, &model, &args)
                    .unwrap(),
                out
            );
            for (i, captions) in out.iter().enumerate() {
                assert_eq!(captions.len(), 1);
                assert_eq!(
                    captions[0].ids,
                    Fixture::ids(&fx.info["generations"][run]["ids"][i]),
                    "{config} {run} image {i}"
                );
                assert_eq!(
                    captions[0].text,
                    fx.info["generations"][run]["text"][i].as_str().unwrap()
                );
            }
        }
        // A malformed setting is rejected before anything runs.
        assert!(GenerationConfig::from_json(r#"{"num_beams": 0}"#).is_err());
    }
}
