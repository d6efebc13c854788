//! What a [`crate::RemoteModelHandler`] sends and reads: one request per batch.

use crate::error::RemoteError;

/// An inference protocol over HTTP + JSON: where a batch goes, how it is written, and how the
/// answer is read back into one prediction per example.
///
/// Implemented by [`crate::KServeV2`] (KServe v2 / Triton) and [`crate::OpenAiEmbeddings`];
/// another JSON API is one more implementation.
pub trait Protocol: Send + Sync + 'static {
    /// One input element.
    type Example: Send + 'static;
    /// One prediction.
    type Prediction: Send + 'static;

    /// The path appended to the handler's base URL, e.g. `/v2/models/resnet/infer`.
    fn path(&self) -> String;

    /// The request body for a batch. An error here is a property of the examples
    /// ([`RemoteError::Request`]), so the engine bisects the batch to isolate the culprit.
    fn encode(&self, batch: &[&Self::Example]) -> Result<String, RemoteError>;

    /// Reads a 2xx answer into exactly `batch_len` predictions, in batch order; `Err` explains
    /// what does not fit.
    fn decode(&self, body: &str, batch_len: usize) -> Result<Vec<Self::Prediction>, String>;

    /// A short label for model ids and metrics (the model's name on the server).
    fn label(&self) -> String;
}
