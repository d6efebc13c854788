//! Golden parity with transformers on the CPU backend (f32). A GPU backend's test file calls
//! the same `common` functions with its backend.

mod common;

use tandem_tensor::CpuBackend;

#[test]
fn token_ids_match_clip_tokenizer_fast() {
    for name in common::CONFIGS {
        common::token_ids(&CpuBackend, name);
    }
}

#[test]
fn pixel_values_match_clip_image_processor() {
    for name in common::CONFIGS {
        common::pixel_values(&CpuBackend, name);
    }
}

#[test]
fn embeddings_and_logits_match_transformers() {
    for name in common::CONFIGS {
        common::model_outputs(&CpuBackend, name);
    }
}

#[test]
fn rank_reproduces_reference_order_and_probabilities() {
    for name in common::CONFIGS {
        common::rank(&CpuBackend, name);
    }
}
