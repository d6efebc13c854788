//! Prints the token ids `generate` produces for a checkpoint and generation settings, for
//! cross-checking against `transformers` outside the golden fixtures.
//!
//! `cargo run -p tandem-blip --example generate_ids -- <checkpoint dir> <pixels.safetensors> '<settings json>'`
//!
//! `pixels.safetensors` holds `pixel_values` `[n, 3, s, s]` (e.g. a fixture's
//! `reference.safetensors`). Output: one JSON line, per image the list of returned sequences.
//! Each image is generated alone and all together; a difference is an error.

use tandem_blip::{generate, BlipCaptioner, GenerationConfig};
use tandem_nn::SafetensorsFile;
use tandem_tensor::{CpuBackend, DType, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, pixels_path, settings] = &args[..] else {
        return Err(
            "usage: generate_ids <checkpoint dir> <pixels.safetensors> '<settings json>'".into(),
        );
    };
    let cfg = GenerationConfig::from_json(settings)?;
    let m = BlipCaptioner::from_dir(dir, &CpuBackend, DType::F32)?;
    let file = SafetensorsFile::open(pixels_path)?;
    let shape = file
        .entry("pixel_values")
        .ok_or("no pixel_values tensor")?
        .shape;
    let pixels = Tensor::from_slice(&CpuBackend, &file.read_f32("pixel_values")?, &shape)?;
    let prompt = m.tokenizer.decoder_prompt(
        cfg.prompt.as_deref(),
        m.model.config.text_config.bos_token_id,
    )?;
    let keys: Vec<String> = (0..shape[0]).map(|i| format!("image-{i}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let all = generate(&m.model, &pixels, &key_refs, &prompt, &cfg)?;
    for (i, key) in key_refs.iter().enumerate() {
        let one = generate(&m.model, &pixels.narrow(0, i, 1)?, &[key], &prompt, &cfg)?;
        if one[0] != all[i] {
            return Err(format!("image {i}: alone {:?} != batched {:?}", one[0], all[i]).into());
        }
    }
    println!("{}", serde_json::to_string(&all)?);
    Ok(())
}
