//! BLIP image captioning, native Rust: loads a Hugging Face `BlipForConditionalGeneration`
//! checkpoint directory as it is and generates captions with greedy search, sampling or beam
//! search.
//!
//! - [`BlipModel`]: the ViT image encoder ([`vision`]) and the BERT text decoder with
//!   cross-attention and the tied LM head ([`text`]), written once against
//!   [`tandem_tensor::Backend`].
//! - [`generation`]: N captions per image done once per image where possible: the image is
//!   encoded once, each decoder layer's cross-attention keys/values are computed once per image
//!   and shared by its N sequences and all steps, finished sequences leave the batch, and
//!   several images decode together. Per-request state lives outside the model.
//! - [`BlipImageProcessor`]: `BlipImageProcessor` (Pillow-exact bicubic resize, rescale,
//!   CLIP mean/std), from `tandem-image`.
//! - [`BlipTokenizer`]: BERT WordPiece plus BLIP's `[DEC]`/`[ENC]`, decoding like
//!   `batch_decode(skip_special_tokens=True)`.
//! - [`BlipHandler`]: a `tandem-handler` `ModelHandler` (image → N captions) on any backend.
//! - [`random_checkpoint`]: random-weight checkpoints of a preset, for benchmarks.

mod config;
mod cross_attention;
mod error;
pub mod generation;
mod handler;
mod model;
pub mod random_checkpoint;
pub mod text;
mod tokenizer;
pub mod vision;

pub use config::{BlipConfig, BlipTextConfig, BlipVisionConfig};
pub use cross_attention::RowGroup;
pub use error::{BlipError, Result};
pub use generation::{generate, generate_from_embeds, Caption, EarlyStopping, GenerationConfig};
pub use handler::{BlipExample, BlipHandler, BlipImage};
pub use model::{BlipCaptioner, BlipModel};
pub use tandem_image::{
    decode_image, open_image, BlipImageProcessor, ImageOptions, Pixels, RgbImage,
};
pub use tokenizer::{clean_up_tokenization, BlipTokenizer};
