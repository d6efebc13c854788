//! Loading: random-weight checkpoints for any config, mismatch reports, config parsing,
//! the vocab/merges tokenizer path, and the ranking handler.

mod common;

use std::sync::Arc;
use tandem_clip::{
    checkpoint_tensors, write_random_checkpoint, ClipConfig, ClipError, ClipModel, ClipRankHandler,
    ClipTokenizer, PixelRankRequest, RankExample, RankRequest,
};
use tandem_handler::{ModelHandler, ModelHandlerExt};
use tandem_image::{open_image, ImageOptions, ImageProcessor};
use tandem_nn::{NnError, Weights};
use tandem_tensor::{CpuBackend, DType};

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tandem-clip-{name}-{}", std::process::id()))
}

#[test]
fn presets_have_the_published_sizes() {
    let params = |cfg: &ClipConfig| -> usize {
        checkpoint_tensors(cfg)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    };
    // transformers reports 151,277,313 / 149,620,737 / 427,616,513 parameters.
    assert_eq!(params(&ClipConfig::vit_b_32()), 151_277_313);
    assert_eq!(params(&ClipConfig::vit_b_16()), 149_620_737);
    assert_eq!(params(&ClipConfig::vit_l_14()), 427_616_513);
    for cfg in [
        ClipConfig::vit_b_32(),
        ClipConfig::vit_b_16(),
        ClipConfig::vit_l_14(),
    ] {
        cfg.validate().expect("valid preset");
        let json = serde_json::to_string(&cfg).expect("json");
        assert_eq!(ClipConfig::from_json(&json).expect("parse"), cfg);
    }
}

#[test]
fn hub_style_config_parses_with_defaults_and_bad_ones_fail() {
    let hub = r#"{"architectures":["CLIPModel"],"initializer_factor":1.0,"logit_scale_init_value":2.6592,
        "model_type":"clip","projection_dim":512,
        "text_config":{"bos_token_id":0,"eos_token_id":2,"bad_words_ids":null,"hidden_size":512,"num_attention_heads":8},
        "vision_config":{"patch_size":32,"hidden_size":768,"chunk_size_feed_forward":0}}"#;
    let cfg = ClipConfig::from_json(hub).expect("hub config");
    assert_eq!(cfg, ClipConfig::vit_b_32());
    let bad = r#"{"vision_config":{"hidden_size":100,"num_attention_heads":12}}"#;
    assert!(matches!(
        ClipConfig::from_json(bad),
        Err(ClipError::Config { .. })
    ));
    let act = r#"{"text_config":{"hidden_act":"swishy"}}"#;
    assert!(ClipConfig::from_json(act).is_err());
    assert!(ClipConfig::from_json("{not json").is_err());
}

#[test]
fn random_checkpoint_of_any_config_loads_and_runs() {
    let mut cfg = ClipConfig::vit_b_32();
    cfg.text_config.hidden_size = 16;
    cfg.text_config.intermediate_size = 24;
    cfg.text_config.num_attention_heads = 2;
    cfg.text_config.num_hidden_layers = 1;
    cfg.text_config.vocab_size = 49408;
    cfg.vision_config.hidden_size = 12;
    cfg.vision_config.intermediate_size = 20;
    cfg.vision_config.num_attention_heads = 3;
    cfg.vision_config.num_hidden_layers = 1;
    cfg.vision_config.image_size = 28;
    cfg.vision_config.patch_size = 7;
    cfg.projection_dim = 8;
    for dtype in [DType::F32, DType::BF16] {
        let dir = tmp(&format!("random-{dtype}"));
        write_random_checkpoint(&dir, &cfg, dtype, 3).expect("write");
        let w = Weights::from_file(dir.join("model.safetensors"), &CpuBackend, DType::F32)
            .expect("map");
        let loaded = ClipConfig::from_file(&dir.join("config.json")).expect("config");
        assert_eq!(loaded, cfg);
        let model = ClipModel::from_weights(loaded, &w, None, ImageProcessor::clip(28))
            .expect("every tensor matched");
        assert!(
            (model.logit_scale() - 100.0).abs() < 2.0,
            "exp(ln 100) (bf16-rounded on disk), {}",
            model.logit_scale()
        );
        let img = tandem_image::RgbImage::new(40, 30, (0..3600).map(|i| (i % 251) as u8).collect())
            .expect("img");
        let f = model.image_features(&[&img, &img]).expect("features");
        assert_eq!(f.dims(), &[2, 8]);
        assert!(f.to_vec_f32().expect("dl").iter().all(|v| v.is_finite()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn wrong_config_lists_every_mis_shaped_and_missing_tensor() {
    let dir = common::fixture("clip-tiny-a");
    let mut cfg = ClipConfig::from_file(&dir.join("config.json")).expect("config");
    cfg.vision_config.intermediate_size += 4;
    cfg.text_config.num_hidden_layers += 1;
    let w =
        Weights::from_file(dir.join("model.safetensors"), &CpuBackend, DType::F32).expect("map");
    let err = ClipModel::from_weights(cfg, &w, None, ImageProcessor::clip(32))
        .err()
        .expect("must fail");
    let ClipError::Nn(NnError::WeightsMismatch(report)) = &err else {
        panic!("wrong error: {err}")
    };
    // fc1.weight, fc1.bias, fc2.weight of both vision layers.
    assert_eq!(report.mis_shaped.len(), 6, "{report}");
    // A whole extra text layer: 16 tensors.
    assert_eq!(report.missing.len(), 16, "{report}");
    assert!(report.unexpected.is_empty(), "{report}");
    assert!(
        err.to_string()
            .contains("text_model.encoder.layers.2.mlp.fc1.weight (expected shape [40, 10])"),
        "{err}"
    );
}

#[test]
fn vocab_and_merges_give_the_same_ids_as_tokenizer_json() {
    let f = common::Fixture::open("clip-tiny-b");
    let tj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.dir.join("tokenizer.json")).expect("read"))
            .expect("json");
    let vocab = tj["model"]["vocab"].to_string();
    let merges: Vec<String> = tj["model"]["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(p) => format!(
                "{} {}",
                p[0].as_str().unwrap_or(""),
                p[1].as_str().unwrap_or("")
            ),
            other => panic!("merge {other}"),
        })
        .collect();
    let dir = tmp("vocab-merges");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("vocab.json"), vocab).expect("vocab");
    std::fs::write(
        dir.join("merges.txt"),
        format!("#version: 0.2\n{}\n", merges.join("\n")),
    )
    .expect("merges");
    let from_files = ClipTokenizer::from_dir(&dir, 77).expect("vocab + merges");
    let from_json = ClipTokenizer::from_dir(&f.dir, 77).expect("tokenizer.json");
    let mut captions = f.strings("captions");
    captions.push("Ünïcode   WHITESPACE\tand digits 12345 <|endoftext|> ok".into());
    for c in &captions {
        assert_eq!(
            from_files.encode(c).expect("a"),
            from_json.encode(c).expect("b"),
            "{c}"
        );
    }
    // Long captions are cut to the model's positions and keep their end-of-text token.
    let long = "a very long caption ".repeat(40);
    let ids = from_json.encode(&long).expect("long");
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[76], 49407);
    assert!(from_json.encode_batch(&[]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rank_handler_serves_batches_and_keys() {
    let dir = common::fixture("clip-tiny-a");
    let handler = ClipRankHandler::new(&dir, CpuBackend, DType::F32);
    let model = handler.load_model().expect("load");
    let img = |n: &str| {
        Arc::new(open_image(&common::images_dir().join(n), ImageOptions::default()).expect("photo"))
    };
    let requests = [
        RankRequest {
            image: img("chelsea.png"),
            captions: vec![
                "a photo of a cat".into(),
                "a rocket launching".into(),
                "dog".into(),
            ],
        },
        RankRequest {
            image: img("coffee.png"),
            captions: vec!["a cup of coffee on a wooden table".into(), "dog".into()],
        },
    ];
    let batch: Vec<&RankRequest> = requests.iter().collect();
    let out = handler
        .run_inference(&batch, &model, &())
        .expect("inference");
    assert_eq!(out.len(), 2);
    for (r, ranked) in requests.iter().zip(&out) {
        let caps: Vec<&str> = r.captions.iter().map(String::as_str).collect();
        let alone = model.rank(&r.image, &caps).expect("rank");
        assert_eq!(
            ranked.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            alone.iter().map(|(c, _)| c).collect::<Vec<_>>()
        );
        let total: f32 = ranked.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1), "sorted");
    }
    // The same requests preprocessed by a step of their own rank identically.
    let pixel_handler = ClipRankHandler::new(&dir, CpuBackend, DType::F32);
    let preprocessed: Vec<PixelRankRequest> = requests
        .iter()
        .map(|r| PixelRankRequest {
            pixels: r
                .pixels(model.processor())
                .expect("preprocess")
                .into_owned(),
            captions: r.captions.clone(),
        })
        .collect();
    let pixel_batch: Vec<&PixelRankRequest> = preprocessed.iter().collect();
    let from_pixels = pixel_handler
        .run_inference(&pixel_batch, &model, &())
        .expect("inference from pixels");
    assert_eq!(from_pixels, out);
    assert_eq!(
        pixel_handler.element_weight(&preprocessed[0]),
        handler.element_weight(&requests[0])
    );

    let empty = RankRequest {
        image: img("chelsea.png"),
        captions: vec![],
    };
    assert!(
        handler.run_inference(&[&empty], &model, &()).is_err(),
        "no captions is an inference error"
    );

    let keyed = ClipRankHandler::new(&dir, CpuBackend, DType::F32).keyed::<u64>();
    let keyed_req = (7u64, requests[1].clone());
    let out = keyed
        .run_inference(&[&keyed_req], &model, &())
        .expect("keyed");
    assert_eq!(out.len(), 1);
    assert!(keyed.model_id().starts_with("clip:"));
    let bad: ClipRankHandler<_> = ClipRankHandler::new("/nonexistent/clip", CpuBackend, DType::F32);
    assert!(bad.load_model().is_err());
}
