//! Random-weight checkpoints of a [`BlipConfig`] with the exact tensor names and shapes of
//! `BlipForConditionalGeneration`, so benchmarks run the full-size model without downloads.

use crate::config::BlipConfig;
use crate::error::Result;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tandem_nn::{write_safetensors, HostTensor};
use tandem_tensor::DType;

/// Every tensor of the checkpoint: (name, shape, kind) where kind is `w` random weights,
/// `g` layer-norm gain (1), `b` zero bias.
pub fn tensor_specs(cfg: &BlipConfig) -> Vec<(String, Vec<usize>, char)> {
    let v = &cfg.vision_config;
    let t = &cfg.text_config;
    let mut s: Vec<(String, Vec<usize>, char)> = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, kind: char| s.push((name, shape, kind));
    let (d, p) = (v.hidden_size, v.patch_size);
    push(
        "vision_model.embeddings.class_embedding".into(),
        vec![1, 1, d],
        'w',
    );
    push(
        "vision_model.embeddings.patch_embedding.weight".into(),
        vec![d, v.num_channels, p, p],
        'w',
    );
    push(
        "vision_model.embeddings.patch_embedding.bias".into(),
        vec![d],
        'b',
    );
    push(
        "vision_model.embeddings.position_embedding".into(),
        vec![1, v.num_positions(), d],
        'w',
    );
    let linear =
        |push: &mut dyn FnMut(String, Vec<usize>, char), name: String, i: usize, o: usize| {
            push(format!("{name}.weight"), vec![o, i], 'w');
            push(format!("{name}.bias"), vec![o], 'b');
        };
    let norm = |push: &mut dyn FnMut(String, Vec<usize>, char), name: String, n: usize| {
        push(format!("{name}.weight"), vec![n], 'g');
        push(format!("{name}.bias"), vec![n], 'b');
    };
    for i in 0..v.num_hidden_layers {
        let l = format!("vision_model.encoder.layers.{i}");
        linear(&mut push, format!("{l}.self_attn.qkv"), d, 3 * d);
        linear(&mut push, format!("{l}.self_attn.projection"), d, d);
        norm(&mut push, format!("{l}.layer_norm1"), d);
        linear(&mut push, format!("{l}.mlp.fc1"), d, v.intermediate_size);
        linear(&mut push, format!("{l}.mlp.fc2"), v.intermediate_size, d);
        norm(&mut push, format!("{l}.layer_norm2"), d);
    }
    norm(&mut push, "vision_model.post_layernorm".into(), d);
    let (h, e) = (t.hidden_size, cfg.encoder_hidden_size());
    push(
        "text_decoder.bert.embeddings.word_embeddings.weight".into(),
        vec![t.vocab_size, h],
        'w',
    );
    push(
        "text_decoder.bert.embeddings.position_embeddings.weight".into(),
        vec![t.max_position_embeddings, h],
        'w',
    );
    norm(
        &mut push,
        "text_decoder.bert.embeddings.LayerNorm".into(),
        h,
    );
    for i in 0..t.num_hidden_layers {
        let l = format!("text_decoder.bert.encoder.layer.{i}");
        for (part, kv_in) in [("attention", h), ("crossattention", e)] {
            linear(&mut push, format!("{l}.{part}.self.query"), h, h);
            linear(&mut push, format!("{l}.{part}.self.key"), kv_in, h);
            linear(&mut push, format!("{l}.{part}.self.value"), kv_in, h);
            linear(&mut push, format!("{l}.{part}.output.dense"), h, h);
            norm(&mut push, format!("{l}.{part}.output.LayerNorm"), h);
        }
        linear(
            &mut push,
            format!("{l}.intermediate.dense"),
            h,
            t.intermediate_size,
        );
        linear(
            &mut push,
            format!("{l}.output.dense"),
            t.intermediate_size,
            h,
        );
        norm(&mut push, format!("{l}.output.LayerNorm"), h);
    }
    linear(
        &mut push,
        "text_decoder.cls.predictions.transform.dense".into(),
        h,
        h,
    );
    norm(
        &mut push,
        "text_decoder.cls.predictions.transform.LayerNorm".into(),
        h,
    );
    push(
        "text_decoder.cls.predictions.bias".into(),
        vec![t.vocab_size],
        'b',
    );
    s
}

/// Writes a checkpoint of `cfg` to `path` (weights uniform in ±0.04, i.e. std ≈ 0.023, close
/// to BERT's 0.02 init; gains 1, biases 0; the LM decoder is tied, as in the public
/// checkpoints saved by recent `transformers`). Values stored as `dtype`.
pub fn write_random_checkpoint(
    cfg: &BlipConfig,
    path: &Path,
    seed: u64,
    dtype: DType,
) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tensors: Vec<HostTensor> = tensor_specs(cfg)
        .into_iter()
        .map(|(name, shape, kind)| {
            let n: usize = shape.iter().product();
            let values = match kind {
                'w' => (0..n)
                    .map(|_| ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.08)
                    .collect(),
                'g' => vec![1.0; n],
                _ => vec![0.0; n],
            };
            HostTensor {
                name,
                shape,
                values,
            }
        })
        .collect();
    write_safetensors(path, &tensors, dtype)?;
    Ok(())
}
