//! Neural-network building blocks shared by Tandem's models, written once against
//! [`tandem_tensor::Backend`] so every layer runs on every device.
//!
//! - Layers: [`Linear`], [`LayerNorm`], [`Embedding`], [`Mlp`], multi-head [`Attention`] (self
//!   and cross, fused or separate q/k/v) with a per-request [`KvCache`] and precomputed
//!   cross-attention keys/values ([`CrossKv`]), [`PreNormBlock`] / [`PostNormBlock`],
//!   [`VisionEmbeddings`], and a [`BertEncoder`].
//! - Weights: [`Weights`] maps safetensors files and hands out tensors by Hugging Face name
//!   (`weights.prefix("vision_model.encoder.layers.3").get("mlp.fc1.weight", &[3072, 768])`),
//!   converting the on-disk dtype to the compute dtype on the device. It records what the
//!   model asked for, so [`Weights::finish`] reports every missing, unexpected and mis-shaped
//!   tensor in one [`NnError::WeightsMismatch`].
//!
//! Layers hold only weights; per-request state (caches) is passed in, so one loaded model can
//! serve concurrent requests.

mod attention;
mod bert;
mod block;
mod embedding;
mod error;
mod layer_norm;
mod linear;
mod mask;
mod mlp;
mod safetensors_file;
mod safetensors_writer;
mod vision_embeddings;
mod weights;

pub use attention::{Attention, CrossKv, KvCache, QkvProjection};
pub use bert::{BertConfig, BertEncoder};
pub use block::{BlockConfig, PostNormBlock, PreNormBlock};
pub use embedding::Embedding;
pub use error::{NnError, Result};
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use mask::{mask_value, padding_mask};
pub use mlp::{activation, Mlp};
pub use safetensors_file::{SafetensorsFile, TensorEntry};
pub use safetensors_writer::{write_safetensors, write_safetensors_with, HostTensor};
pub use vision_embeddings::VisionEmbeddings;
pub use weights::{WeightReport, Weights};
