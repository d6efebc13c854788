//! The A/B pattern in Tandem: the same BLIP candidates ranked by a champion and a challenger
//! CLIP checkpoint, traffic split by a stable hash of the image id, compared with Welch's t.
//!
//! ```text
//! cargo run -p tandem-cascade --example ab_test                  # fixture models, 50/50
//! cargo run -p tandem-cascade --example ab_test -- 90 10         # 90/10 split
//! ```

use tandem_blip::GenerationConfig;
use tandem_cascade::ab;
use tandem_cascade::cascade::{BlipStage, ClipStage};
use tandem_cascade::images::ImageLimits;
use tandem_cascade::{input, InputRef};
use tandem_pipeline::{FixedWindows, Pipeline};
use tandem_tensor::{CpuBackend, DType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let weight = |i: usize, default: u32| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let weights = [weight(1, 50), weight(2, 50)];
    let fixture =
        |model: &str, name: &str| format!("{root}/../tandem-{model}/tests/fixtures/{name}");

    let generation = GenerationConfig {
        do_sample: true,
        num_return_sequences: 5,
        max_length: 20,
        ..Default::default()
    };
    let blip = BlipStage {
        dir: fixture("blip", "blip-tiny-a").into(),
        backend: CpuBackend,
        dtype: DType::F32,
        batch_size: 4,
        generation,
        keep_all_candidates: false,
    };
    let champion = ClipStage {
        dir: fixture("clip", "clip-tiny-a").into(),
        backend: CpuBackend,
        dtype: DType::F32,
        batch_size: 8,
        thumbnail: None,
    };
    let challenger = ClipStage {
        dir: fixture("clip", "clip-tiny-b").into(),
        backend: CpuBackend,
        dtype: DType::F32,
        batch_size: 8,
        thumbnail: None,
    };

    let p = Pipeline::new();
    // Four photos are too few to split; each enters eight times under its own key (its own
    // sampled captions, its own arm), standing in for a stream of distinct images.
    let photos = input::folder(format!("{root}/../../examples/images"))?;
    let stream: Vec<InputRef> = (0..8)
        .flat_map(|copy| {
            photos.iter().map(move |p| InputRef {
                id: format!("{}#{copy}", p.id),
                source: p.source.clone(),
            })
        })
        .collect();
    let files = p
        .create(stream)
        .window_into("WindowPerImage", FixedWindows::new(1));
    let (results, errors) = ab::build(
        &files,
        ImageLimits::default(),
        &blip,
        [&champion, &challenger],
        weights,
    );
    let results = results.collect("Collect");
    let errors = errors.collect("CollectErrors");
    p.run()?;

    let report = ab::report(
        &results.take(),
        ["clip-tiny-a", "clip-tiny-b"],
        weights,
        0.95,
    );
    print!("{}", ab::text(&report));
    for e in errors.take() {
        println!("  failed: {} [{}]: {}", e.image, e.stage, e.reason);
    }
    Ok(())
}
