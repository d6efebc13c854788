//! Golden parity with transformers on the CPU backend (f32, and bf16/f16 against transformers'
//! own drift in those dtypes). A GPU backend's test file calls
//! the same `common` functions with its backend.

mod common;

use tandem_tensor::{CpuBackend, DType};

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

/// bf16 and f16: no further from transformers' f32 outputs than transformers in that dtype,
/// within `half_precision_parity`'s derived bound.
#[test]
fn half_precision_outputs_within_transformers_drift() {
    for name in common::CONFIGS {
        for dtype in [DType::BF16, DType::F16] {
            common::model_outputs_in(&CpuBackend, name, dtype);
        }
    }
}

#[test]
fn rank_reproduces_reference_order_and_probabilities() {
    for name in common::CONFIGS {
        common::rank(&CpuBackend, name);
    }
}
