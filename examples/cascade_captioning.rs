//! The seeds' cascade in Tandem: BLIP proposes captions, CLIP ranks them.
//!
//! ```text
//! cargo run -p tandem-cascade --example cascade_captioning                       # fixture models, examples/images
//! cargo run -p tandem-cascade --example cascade_captioning -- IMAGES BLIP_DIR CLIP_DIR
//! ```
//! read images → BLIP preprocess → RunInference(BLIP, keyed by image id) → post-process →
//! co_group_by_key with the images → CLIP preprocess → RunInference(CLIP, keyed) → rank → write.

use tandem_blip::GenerationConfig;
use tandem_cascade::cascade::{self, BlipStage, ClipStage};
use tandem_cascade::images::ImageLimits;
use tandem_cascade::records::{notebook_text, ErrorRecord, ImageResult};
use tandem_cascade::{input, InputRef};
use tandem_pipeline::{BoxError, FixedWindows, Pipeline, Sink};
use tandem_tensor::{CpuBackend, DType};

/// Prints each text block as it arrives.
struct PrintText;

impl Sink<String> for PrintText {
    fn write(&mut self, text: String) -> Result<(), BoxError> {
        print!("{text}");
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let arg = |i: usize, default: String| std::env::args().nth(i).unwrap_or(default);
    let images_arg = arg(1, format!("{root}/../../examples/images"));
    let blip_dir = arg(
        2,
        format!("{root}/../tandem-blip/tests/fixtures/blip-tiny-a"),
    );
    let clip_dir = arg(
        3,
        format!("{root}/../tandem-clip/tests/fixtures/clip-tiny-a"),
    );

    // Ten sampled candidates per image, as in the notebook.
    let generation = GenerationConfig {
        do_sample: true,
        num_return_sequences: 10,
        max_length: 30,
        min_length: 5,
        ..Default::default()
    };
    let blip = BlipStage {
        dir: blip_dir.into(),
        backend: CpuBackend,
        dtype: DType::F32,
        batch_size: 4,
        generation,
        keep_all_candidates: false,
    };
    let clip = ClipStage {
        dir: clip_dir.into(),
        backend: CpuBackend,
        dtype: DType::F32,
        batch_size: 8,
        thumbnail: None,
    };

    let p = Pipeline::new();
    // One event-time window per image: each image joins its captions and is printed as soon
    // as CLIP has ranked it, not after the last image (the same as `tandem caption`).
    // A folder of images, or one image file.
    let inputs = if std::path::Path::new(&images_arg).is_dir() {
        input::folder(&images_arg)?
    } else {
        vec![InputRef::file(&images_arg)]
    };
    let files = p
        .create(inputs)
        .named("ListInputs")
        .window_into("WindowPerImage", FixedWindows::new(1));
    let (images, read_errors) = cascade::read_images(&files, ImageLimits::default());
    let (captions, blip_errors) = cascade::caption_candidates(&images, &blip, "");
    let pairs = cascade::join_with_captions(&images, &captions, "");
    let (ranked, clip_errors) = cascade::rank_captions(&pairs, &clip, None, None, "");

    // Notebook-style text on stdout (what `tandem caption` prints).
    ranked
        .map("Format", |r: ImageResult| notebook_text(&r, 3))
        .write("Print", PrintText);
    read_errors
        .flatten_with("AllErrors", &[&blip_errors, &clip_errors])
        .map("FormatErrors", |e: ErrorRecord| {
            format!("failed: {} [{}]: {}", e.image, e.stage, e.reason)
        })
        .write("PrintErrors", tandem_pipeline::WriteStdout);
    let report = p.run()?;
    eprintln!("{report}");
    Ok(())
}
