//! What a run writes: one [`ImageResult`] per image that made it through, one [`ErrorRecord`]
//! per input that did not, and the notebook-style text.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::input::InputRef;

/// A caption and the probability CLIP gave it among the image's candidates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredCaption {
    pub caption: String,
    pub probability: f32,
}

/// One image's ranked captions: a line of the `--out` JSON Lines file. Its `Debug` text names
/// the image and counts the captions (it appears in error messages, which must stay short).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The input as given (path or URL): the resume key.
    pub image: String,
    /// Every candidate, most probable first.
    pub captions: Vec<ScoredCaption>,
    /// Which model produced the candidates (`null` for `tandem rank`).
    pub caption_model: Option<String>,
    /// Which model ranked them.
    pub rank_model: String,
    /// A/B arm, for `tandem ab` (`null` otherwise). Always written: a field that is left
    /// out when empty (`skip_serializing_if`) cannot be decoded from the binary wire format
    /// a distributed runner moves results in (postcard is not self-describing).
    #[serde(default)]
    pub arm: Option<String>,
    /// Thumbnail for the HTML page; never written to JSON Lines.
    #[serde(skip)]
    pub thumbnail: Option<String>,
}

impl std::fmt::Debug for ImageResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImageResult({:?}, {} captions)",
            self.image,
            self.captions.len()
        )
    }
}

impl ImageResult {
    /// Probability of the best caption (0 when there is none).
    pub fn top_probability(&self) -> f32 {
        self.captions.first().map_or(0.0, |c| c.probability)
    }
}

/// An input that produced no result, and why. Its `Debug` text names the input and the stage
/// only (it appears in error messages, which must stay short).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// The input as given.
    pub image: String,
    /// The pipeline step that failed it.
    pub stage: String,
    /// The reason, as the step reported it.
    pub reason: String,
}

impl std::fmt::Debug for ErrorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErrorRecord({:?}, {})", self.image, self.stage)
    }
}

/// The reference notebook's block for one image:
///
/// ```text
/// Image: Paris-sunset
/// Top 3 captions ranked by CLIP:
/// 1: the setting sun is reflected in an orange setting sky over paris. (Caption probability: 0.28)
/// ```
pub fn notebook_text(result: &ImageResult, top_k: usize) -> String {
    let mut s = String::new();
    let shown = top_k.min(result.captions.len());
    let _ = writeln!(s, "Image: {}", InputRef::display_name(&result.image));
    let _ = writeln!(s, "Top {shown} captions ranked by CLIP:");
    for (i, c) in result.captions.iter().take(shown).enumerate() {
        let _ = writeln!(
            s,
            "{}: {} (Caption probability: {:.2})",
            i + 1,
            c.caption,
            c.probability
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_block_matches_the_reference_layout() {
        let r = ImageResult {
            image: "photos/Wedges.jpg".into(),
            captions: vec![
                ScoredCaption {
                    caption: "sweet potato fries.".into(),
                    probability: 0.734,
                },
                ScoredCaption {
                    caption: "a plate.".into(),
                    probability: 0.266,
                },
            ],
            caption_model: None,
            rank_model: "clip".into(),
            arm: None,
            thumbnail: None,
        };
        assert_eq!(
            notebook_text(&r, 3),
            "Image: Wedges\nTop 2 captions ranked by CLIP:\n1: sweet potato fries. (Caption probability: 0.73)\n2: a plate. (Caption probability: 0.27)\n"
        );
    }

    /// Results and dead letters cross processes on a timely run (`with_coder`): every field
    /// must survive the binary wire format, not only JSON.
    #[test]
    fn records_round_trip_through_the_runners_wire_formats() {
        use tandem_pipeline::runner::api::{ShuffleCodec, ValueCodec, WireFormat};
        let results = [None, Some("challenger")].map(|arm| ImageResult {
            image: "photos/a.png".into(),
            captions: vec![ScoredCaption {
                caption: "a cat".into(),
                probability: 0.5,
            }],
            caption_model: arm.map(|_| "blip".into()),
            rank_model: "clip".into(),
            arm: arm.map(String::from),
            thumbnail: None,
        });
        let error = ErrorRecord {
            image: "b.png".into(),
            stage: "ReadImages".into(),
            reason: "not an image".into(),
        };
        for format in [WireFormat::Binary, WireFormat::Json] {
            for r in &results {
                let codec = ValueCodec::<ImageResult>::new();
                let mut bytes = Vec::new();
                codec
                    .encode(&(Box::new(r.clone()) as _), format, &mut bytes)
                    .unwrap();
                let back = codec.decode(&bytes, format).unwrap();
                assert_eq!(back.downcast_ref::<ImageResult>(), Some(r), "{format:?}");
            }
            let codec = ValueCodec::<ErrorRecord>::new();
            let mut bytes = Vec::new();
            codec
                .encode(&(Box::new(error.clone()) as _), format, &mut bytes)
                .unwrap();
            let back = codec.decode(&bytes, format).unwrap();
            assert_eq!(
                back.downcast_ref::<ErrorRecord>(),
                Some(&error),
                "{format:?}"
            );
        }
    }
}
