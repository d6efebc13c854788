//! Random-weight CLIP checkpoints in the Hugging Face layout, for benchmarks and tests that
//! need a full-size model without downloading one.

use crate::config::ClipConfig;
use crate::error::{ClipError, Result};
use std::path::Path;
use tandem_nn::write_safetensors_with;
use tandem_tensor::DType;

/// Every tensor of a `CLIPModel` state dict for `cfg`: (Hugging Face name, shape).
pub fn checkpoint_tensors(cfg: &ClipConfig) -> Vec<(String, Vec<usize>)> {
    let (t, v, p) = (&cfg.text_config, &cfg.vision_config, cfg.projection_dim);
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
    let layers =
        |push: &mut dyn FnMut(String, &[usize]), prefix: &str, n: usize, d: usize, inter: usize| {
            for i in 0..n {
                let l = format!("{prefix}.encoder.layers.{i}");
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    push(format!("{l}.self_attn.{proj}.weight"), &[d, d]);
                    push(format!("{l}.self_attn.{proj}.bias"), &[d]);
                }
                for norm in ["layer_norm1", "layer_norm2"] {
                    push(format!("{l}.{norm}.weight"), &[d]);
                    push(format!("{l}.{norm}.bias"), &[d]);
                }
                push(format!("{l}.mlp.fc1.weight"), &[inter, d]);
                push(format!("{l}.mlp.fc1.bias"), &[inter]);
                push(format!("{l}.mlp.fc2.weight"), &[d, inter]);
                push(format!("{l}.mlp.fc2.bias"), &[d]);
            }
        };
    push(
        "text_model.embeddings.token_embedding.weight".into(),
        &[t.vocab_size, t.hidden_size],
    );
    push(
        "text_model.embeddings.position_embedding.weight".into(),
        &[t.max_position_embeddings, t.hidden_size],
    );
    layers(
        &mut push,
        "text_model",
        t.num_hidden_layers,
        t.hidden_size,
        t.intermediate_size,
    );
    push(
        "text_model.final_layer_norm.weight".into(),
        &[t.hidden_size],
    );
    push("text_model.final_layer_norm.bias".into(), &[t.hidden_size]);
    let n = (v.image_size / v.patch_size.max(1)).pow(2) + 1;
    push(
        "vision_model.embeddings.class_embedding".into(),
        &[v.hidden_size],
    );
    push(
        "vision_model.embeddings.patch_embedding.weight".into(),
        &[v.hidden_size, v.num_channels, v.patch_size, v.patch_size],
    );
    push(
        "vision_model.embeddings.position_embedding.weight".into(),
        &[n, v.hidden_size],
    );
    push("vision_model.pre_layrnorm.weight".into(), &[v.hidden_size]);
    push("vision_model.pre_layrnorm.bias".into(), &[v.hidden_size]);
    layers(
        &mut push,
        "vision_model",
        v.num_hidden_layers,
        v.hidden_size,
        v.intermediate_size,
    );
    push(
        "vision_model.post_layernorm.weight".into(),
        &[v.hidden_size],
    );
    push("vision_model.post_layernorm.bias".into(), &[v.hidden_size]);
    push("visual_projection.weight".into(), &[p, v.hidden_size]);
    push("text_projection.weight".into(), &[p, t.hidden_size]);
    push("logit_scale".into(), &[]);
    out
}

/// SplitMix64: a tiny, seedable generator (quality is ample for weights nobody trains).
struct SplitMix(u64);
impl SplitMix {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Uniform on [-√3, √3): unit variance.
        ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 1.732_050_8
    }
}

/// Writes `config.json` and a random `model.safetensors` (stored as `dtype`) for `cfg` into
/// `dir`: unit-variance values scaled so activations stay O(1) (linear weights by 1/√fan-in,
/// norms near 1, biases and embeddings small), `logit_scale = ln 100` as in trained CLIP.
pub fn write_random_checkpoint(
    dir: &Path,
    cfg: &ClipConfig,
    dtype: DType,
    seed: u64,
) -> Result<()> {
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| ClipError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(cfg)
        .map_err(|e| ClipError::config("config.json", e.to_string()))?;
    let cfg_path = dir.join("config.json");
    std::fs::write(&cfg_path, json).map_err(|source| ClipError::Io {
        path: cfg_path,
        source,
    })?;
    let specs = checkpoint_tensors(cfg);
    let shapes: std::collections::HashMap<&str, &Vec<usize>> =
        specs.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut rng = SplitMix(seed);
    write_safetensors_with(
        &dir.join("model.safetensors"),
        &specs,
        dtype,
        |name, buf| {
            let fan_in = shapes
                .get(name)
                .and_then(|s| s.get(1..))
                .map(|r| r.iter().product::<usize>())
                .unwrap_or(1)
                .max(1);
            let is_norm = name.contains("norm") || name.contains("layrnorm");
            for x in buf.iter_mut() {
                let r = rng.next_f32();
                *x = if name == "logit_scale" {
                    100f32.ln()
                } else if is_norm && name.ends_with("weight") {
                    1.0 + 0.05 * r
                } else if name.ends_with("bias") || name.contains("embedding") {
                    0.02 * r
                } else {
                    r / (fan_in as f32).sqrt()
                };
            }
        },
    )?;
    Ok(())
}
