//! [`ClipRankHandler`]: CLIP caption ranking as a `tandem_handler::ModelHandler`.
//!
//! Input: an image and its candidate captions; output: the captions ranked by probability.
//! Keyed use needs nothing extra: `ClipRankHandler::new(..).keyed::<K>()` carries a key
//! (e.g. the image id) through to each result.

use crate::model::{ClipModel, Ranked};
use std::path::PathBuf;
use std::sync::Arc;
use tandem_handler::{BatchConfig, HandlerError, ModelHandler};
use tandem_image::RgbImage;
use tandem_tensor::{Backend, DType};

/// One ranking request. The image is shared (`Arc`) so a pipeline that also captions it does
/// not copy the pixels.
#[derive(Clone, Debug)]
pub struct RankRequest {
    pub image: Arc<RgbImage>,
    pub captions: Vec<String>,
}

/// Loads a CLIP checkpoint directory once per process and ranks batches of requests: all
/// images of a batch in one vision forward, all their captions in one text forward.
#[derive(Clone, Debug)]
pub struct ClipRankHandler<B: Backend> {
    dir: PathBuf,
    backend: B,
    dtype: DType,
    batch: BatchConfig,
}

impl<B: Backend> ClipRankHandler<B> {
    /// Serves the checkpoint in `dir` on `backend`, computing in `dtype`.
    pub fn new(dir: impl Into<PathBuf>, backend: B, dtype: DType) -> Self {
        ClipRankHandler {
            dir: dir.into(),
            backend,
            dtype,
            batch: BatchConfig::default(),
        }
    }

    /// Overrides the batching settings.
    pub fn with_batch_config(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }
}

impl<B: Backend> ModelHandler for ClipRankHandler<B> {
    type Example = RankRequest;
    type Prediction = Ranked;
    type Model = ClipModel<B>;
    type Args = ();

    fn load_model(&self) -> Result<ClipModel<B>, HandlerError> {
        ClipModel::load(&self.dir, &self.backend, self.dtype)
            .map_err(|e| HandlerError::load(self.model_id(), e))
    }

    fn run_inference(
        &self,
        batch: &[&RankRequest],
        model: &ClipModel<B>,
        _args: &(),
    ) -> Result<Vec<Ranked>, HandlerError> {
        let captions: Vec<Vec<&str>> = batch
            .iter()
            .map(|r| r.captions.iter().map(String::as_str).collect())
            .collect();
        let requests: Vec<(&RgbImage, &[&str])> = batch
            .iter()
            .zip(&captions)
            .map(|(r, c)| (&*r.image, c.as_slice()))
            .collect();
        model
            .rank_many(&requests)
            .map_err(|e| HandlerError::from_error(&e))
    }

    fn model_id(&self) -> String {
        format!(
            "clip:{}:{}:{}",
            self.dir.display(),
            self.backend.name(),
            self.dtype
        )
    }

    fn batch_config(&self) -> BatchConfig {
        self.batch.clone()
    }

    /// Captions dominate the text forward's cost; an image costs about as much as a few.
    fn element_weight(&self, example: &RankRequest) -> u64 {
        example.captions.len() as u64 + 4
    }
}
