//! OpenAI-compatible embeddings: `POST {base}/embeddings` with `{"model", "input": [...]}`,
//! answered by `{"data": [{"index", "embedding": [...]}, ...]}`. Served by OpenAI and by most
//! self-hosted servers (vLLM, text-embeddings-inference, llama.cpp, Ollama's `/v1`).

use serde::{Deserialize, Serialize};

use crate::error::RemoteError;
use crate::protocol::Protocol;

/// Text in, one embedding (`Vec<f32>`) per text out. The handler's base URL is the API root
/// including its version (`http://host:8000/v1`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiEmbeddings {
    /// The model name the server knows.
    pub model: String,
    /// Output size for models that can shorten their embeddings (`dimensions`), if wanted.
    pub dimensions: Option<usize>,
}

impl OpenAiEmbeddings {
    /// Embeddings from `model`, at its native size.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiEmbeddings {
            model: model.into(),
            dimensions: None,
        }
    }
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: Vec<&'a str>,
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct Embedding {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<Embedding>,
}

impl Protocol for OpenAiEmbeddings {
    type Example = String;
    type Prediction = Vec<f32>;

    fn path(&self) -> String {
        "/embeddings".to_string()
    }

    fn encode(&self, batch: &[&String]) -> Result<String, RemoteError> {
        let request = EmbeddingRequest {
            model: &self.model,
            input: batch.iter().map(|s| s.as_str()).collect(),
            encoding_format: "float",
            dimensions: self.dimensions,
        };
        serde_json::to_string(&request).map_err(|e| RemoteError::Request {
            reason: format!("cannot write JSON: {e}"),
        })
    }

    /// Orders the embeddings by `index`; every index of the batch must appear exactly once.
    fn decode(&self, body: &str, batch_len: usize) -> Result<Vec<Vec<f32>>, String> {
        let response: EmbeddingResponse =
            serde_json::from_str(body).map_err(|e| format!("not an embeddings response: {e}"))?;
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; batch_len];
        for item in response.data {
            let Some(slot) = slots.get_mut(item.index) else {
                return Err(format!(
                    "embedding index {} is outside the batch of {batch_len}",
                    item.index
                ));
            };
            if slot.replace(item.embedding).is_some() {
                return Err(format!("embedding index {} appears twice", item.index));
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.ok_or_else(|| format!("no embedding for input {i}")))
            .collect()
    }

    fn label(&self) -> String {
        format!("openai-embeddings:{}", self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_index_and_checks_coverage() {
        let p = OpenAiEmbeddings::new("e");
        let body = r#"{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#;
        assert_eq!(
            p.decode(body, 2).expect("decodes"),
            vec![vec![1.0], vec![2.0]]
        );
        assert!(p
            .decode(body, 3)
            .expect_err("missing")
            .contains("no embedding for input 2"));
        let twice = r#"{"data":[{"index":0,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#;
        assert!(p.decode(twice, 2).is_err());
    }
}
