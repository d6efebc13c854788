//! The two models' preprocessing as pipeline steps (`DoFn`s). Preprocessing runs as its own
//! step (as in the reference notebook) so the model handlers (`tandem_blip::BlipHandler`,
//! `tandem_clip::ClipRankHandler`) receive ready [`Pixels`] and only stack them into a batch
//! tensor.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tandem_blip::BlipConfig;
use tandem_clip::{ClipConfig, RankExample};
use tandem_image::{BlipImageProcessor, ImageProcessor, Pixels};
use tandem_pipeline::{BoxError, DoFn, Emitter};

use crate::images::SharedImage;

fn model_error(dir: &Path, e: impl std::fmt::Display) -> BoxError {
    format!("{}: {e}", dir.display()).into()
}

/// "BLIP preprocess": resize to the checkpoint's square size, rescale, normalise.
#[derive(Clone)]
pub struct BlipPreprocess {
    dir: PathBuf,
    processor: Option<(BlipImageProcessor, (usize, usize))>,
}

impl BlipPreprocess {
    /// Preprocesses for the checkpoint in `dir` (its `config.json` and
    /// `preprocessor_config.json` are read in `setup`, once per worker).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BlipPreprocess {
            dir: dir.into(),
            processor: None,
        }
    }
}

impl DoFn for BlipPreprocess {
    type In = (String, SharedImage);
    type Out = (String, Pixels);

    fn setup(&mut self) -> Result<(), BoxError> {
        let cfg = BlipConfig::from_file(self.dir.join("config.json"))
            .map_err(|e| model_error(&self.dir, e))?;
        let p = BlipImageProcessor::from_dir(&self.dir, cfg.vision_config.image_size)
            .map_err(|e| model_error(&self.dir, e))?;
        let size = p.output_size();
        self.processor = Some((p, size));
        Ok(())
    }

    fn process(
        &mut self,
        (key, image): Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let Some((p, (height, width))) = &self.processor else {
            return Err("BLIP preprocessing used before setup".into());
        };
        let data = p.preprocess(&image.0)?;
        out.emit((
            key.clone(),
            Pixels {
                key,
                data: Arc::new(data),
                height: *height,
                width: *width,
            },
        ));
        Ok(())
    }
}

/// An image with the texts CLIP should rank for it.
#[derive(Clone, Debug)]
pub struct ClipRequest {
    pub pixels: Pixels,
    pub captions: Vec<String>,
    /// Kept for the HTML thumbnail (shared, not copied).
    pub image: SharedImage,
}

/// Already preprocessed by [`ClipPreprocess`]; the image rides along to the result.
impl RankExample for ClipRequest {
    fn captions(&self) -> &[String] {
        &self.captions
    }

    fn pixels(&self, _processor: &ImageProcessor) -> tandem_image::Result<Cow<'_, Pixels>> {
        Ok(Cow::Borrowed(&self.pixels))
    }
}

/// "CLIP preprocess": CLIP's resize + centre crop + normalise of the image, paired with the
/// captions to rank.
#[derive(Clone)]
pub struct ClipPreprocess {
    dir: PathBuf,
    processor: Option<ImageProcessor>,
}

impl ClipPreprocess {
    /// Preprocesses for the checkpoint in `dir` (its `config.json` and
    /// `preprocessor_config.json` are read in `setup`, once per worker).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ClipPreprocess {
            dir: dir.into(),
            processor: None,
        }
    }
}

impl DoFn for ClipPreprocess {
    type In = (String, (SharedImage, Vec<String>));
    type Out = (String, ClipRequest);

    fn setup(&mut self) -> Result<(), BoxError> {
        let cfg = ClipConfig::from_file(&self.dir.join("config.json"))
            .map_err(|e| model_error(&self.dir, e))?;
        self.processor = Some(
            ImageProcessor::from_dir(&self.dir, cfg.vision_config.image_size)
                .map_err(|e| model_error(&self.dir, e))?,
        );
        Ok(())
    }

    fn process(
        &mut self,
        (key, (image, captions)): Self::In,
        out: &mut Emitter<'_, Self::In, Self::Out>,
    ) -> Result<(), BoxError> {
        let Some(p) = &self.processor else {
            return Err("CLIP preprocessing used before setup".into());
        };
        if captions.is_empty() {
            return Err("no captions to rank".into());
        }
        let (height, width) = match p.crop {
            Some(hw) => hw,
            None => p.resized_size(image.0.height, image.0.width),
        };
        let data = p.preprocess(&image.0)?;
        let pixels = Pixels {
            key: key.clone(),
            data: Arc::new(data),
            height,
            width,
        };
        out.emit((
            key,
            ClipRequest {
                pixels,
                captions,
                image,
            },
        ));
        Ok(())
    }
}
