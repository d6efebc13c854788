//! The cascade shape of Tandem's seed pipeline (BLIP captions an image, CLIP ranks the
//! captions), with stand-in functions in place of the models:
//!
//! read images → "model A" proposes captions → post-process → co-group the captions with
//! their image by key → "model B" ranks them → write.
//!
//! ```text
//! cargo run -p tandem-pipeline --example pipeline_cascade_shape              # synthetic images
//! cargo run -p tandem-pipeline --example pipeline_cascade_shape -- DIR OUT   # a folder of images, JSON Lines out
//! ```
//! Images that "model A" cannot handle go to a dead-letter output instead of failing the run.

use serde::{Deserialize, Serialize};
use tandem_pipeline::{
    BoxError, DoFn, Emitter, Failed, PCollection, Pipeline, ReadImages, WriteJsonLines, WriteStdout,
};

/// An image as read from disk: its key (path) and undecoded bytes.
pub type Image = (String, Vec<u8>);

/// One image's captions, best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedCaptions {
    /// The image's key.
    pub image: String,
    /// `(caption, score)`, highest score first.
    pub ranking: Vec<(String, f32)>,
}

/// Stand-in for the captioning model: proposes captions from byte statistics. Empty images
/// are rejected, as a real preprocessor rejects undecodable files.
pub fn propose_captions(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.is_empty() {
        return Err(String::from("empty image"));
    }
    let mean = bytes.iter().map(|&b| f64::from(b)).sum::<f64>() / bytes.len() as f64;
    let tone = if mean > 127.0 { "bright" } else { "dark" };
    Ok(vec![
        format!("  A {tone} picture "),
        format!("a photo with {} pixels", bytes.len()),
        String::from("A BLURRY IMAGE"),
    ])
}

/// Post-processing of model A's text: trimmed, lower case.
pub fn clean_caption(caption: &str) -> String {
    caption.trim().to_lowercase()
}

/// Stand-in for the ranking model: how well `caption` matches `bytes`, in `[0, 1]`.
pub fn score(bytes: &[u8], caption: &str) -> f32 {
    let overlap = caption.bytes().filter(|c| bytes.contains(c)).count();
    overlap as f32 / caption.len().max(1) as f32
}

/// "Model B" as a `DoFn`: the model is "loaded" once per worker in `setup`.
#[derive(Clone, Default)]
struct Rank {
    loaded: bool,
}

impl DoFn for Rank {
    type In = (String, (Vec<Vec<u8>>, Vec<String>));
    type Out = RankedCaptions;

    fn setup(&mut self) -> Result<(), BoxError> {
        self.loaded = true;
        Ok(())
    }

    fn process(
        &mut self,
        (image, (bytes, captions)): Self::In,
        out: &mut Emitter<'_, Self::In, RankedCaptions>,
    ) -> Result<(), BoxError> {
        if !self.loaded {
            return Err("ranker used before setup".into());
        }
        let [bytes] = bytes.as_slice() else {
            return Err(format!("expected one image for `{image}`, found {}", bytes.len()).into());
        };
        let mut ranking: Vec<(String, f32)> = captions
            .into_iter()
            .map(|c| {
                let s = score(bytes, &c);
                (c, s)
            })
            .collect();
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.emit(RankedCaptions { image, ranking });
        Ok(())
    }
}

/// What the cascade produces.
pub struct Cascade {
    /// Ranked captions, one element per image model A could handle.
    pub ranked: PCollection<RankedCaptions>,
    /// Images model A failed on, with the reason.
    pub rejected: PCollection<Failed<Image>>,
}

/// Builds the cascade on `images`.
pub fn build_cascade(images: &PCollection<Image>) -> Cascade {
    let proposals = images.try_map("ModelA/Caption", |(key, bytes): Image| {
        propose_captions(&bytes).map(|captions| (key, captions))
    });
    let captions = proposals.flat_map("PostProcess", |(key, captions): (String, Vec<String>)| {
        captions
            .iter()
            .map(|c| (key.clone(), clean_caption(c)))
            .collect::<Vec<_>>()
    });
    let ranked = images
        .co_group_by_key("JoinImageWithCaptions", &captions)
        // Images model A rejected have no captions: they are already in the dead letters.
        .filter("HasCaptions", |(_, (_, captions))| !captions.is_empty())
        .par_do("ModelB/Rank", Rank::default())
        .output();
    Cascade {
        ranked,
        rejected: proposals.dead_letters(),
    }
}

/// A few stand-in images, one of them empty (model A rejects it).
pub fn synthetic_images() -> Vec<Image> {
    vec![
        (
            String::from("img-0.png"),
            b"a photo of a cat on a sofa".to_vec(),
        ),
        (String::from("img-1.png"), vec![200u8; 64]),
        (String::from("img-2.png"), Vec::new()),
        (
            String::from("img-3.png"),
            b"blurry pixels with a dark sky".to_vec(),
        ),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let p = Pipeline::new();
    let images = match args.first() {
        Some(dir) => p.read(ReadImages::from_folder(dir)),
        None => p.create(synthetic_images()).named("ReadImages"),
    };
    let cascade = build_cascade(&images);
    match args.get(1) {
        Some(out) => cascade
            .ranked
            .write("WriteRanked", WriteJsonLines::to_path(out)),
        None => cascade.ranked.write("WriteRanked", WriteStdout),
    }
    cascade
        .rejected
        .map("DescribeRejected", |f: Failed<Image>| {
            format!("{}: {} ({})", f.element.0, f.error, f.step)
        })
        .write("WriteRejected", WriteStdout);
    eprintln!("{}", p.to_text());
    let report = p.run()?;
    eprintln!("{report}");
    Ok(())
}
