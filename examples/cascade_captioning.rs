//! The seeds' cascade in Tandem: BLIP proposes captions, CLIP ranks them.
//!
//! ```text
//! cargo run -p tandem-cli --example cascade_captioning                       # fixture models, examples/images
//! cargo run -p tandem-cli --example cascade_captioning -- IMAGES BLIP_DIR CLIP_DIR
//! ```
//! read images → BLIP preprocess → RunInference(BLIP, keyed by image id) → post-process →
//! co_group_by_key with the images → CLIP preprocess → RunInference(CLIP, keyed) → rank → write.

use tandem_blip::GenerationConfig;
use tandem_cli::cascade::{self, BlipStage, ClipStage};
use tandem_cli::images::ImageLimits;
use tandem_cli::inputs;
use tandem_cli::outputs::{Collected, ResultSink};
use tandem_cli::records::ErrorRecord;
use tandem_pipeline::{FixedWindows, Pipeline};
use tandem_tensor::CpuBackend;

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
        batch_size: 4,
        generation,
    };
    let clip = ClipStage {
        dir: clip_dir.into(),
        backend: CpuBackend,
        batch_size: 8,
        thumbnail: None,
    };

    let p = Pipeline::new();
    // One event-time window per image: each image joins its captions and is printed as soon
    // as CLIP has ranked it, not after the last image (the same as `tandem caption`).
    let files = p
        .create(inputs::expand(&[images_arg])?.inputs)
        .named("ListInputs")
        .window_into("WindowPerImage", FixedWindows::new(1));
    let (images, read_errors) = cascade::read_images(&files, ImageLimits::default());
    let (captions, blip_errors) = cascade::caption_candidates(&images, &blip, "");
    let pairs = cascade::join_with_captions(&images, &captions, "");
    let (ranked, clip_errors) = cascade::rank_captions(&pairs, &clip, None, None, "");

    // Notebook-style text on stdout (the sink `tandem caption` uses, without files or a bar).
    ranked.write(
        "Print",
        ResultSink::new(
            None,
            true,
            3,
            indicatif::ProgressBar::hidden(),
            Collected::default(),
        ),
    );
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
