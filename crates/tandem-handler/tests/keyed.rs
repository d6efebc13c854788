//! Wrappers: keyed, maybe-keyed, pre/post-processing, and the LRU of a multi-model mapping.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ex, options, temp_dir, write_weights, Linear};
use tandem_handler::{
    BatchConfig, HandlerError, InferenceEngine, KeyModelMapping, ManualClock, MaybeKeyed,
    ModelHandler, ModelHandlerExt, ModelManager,
};

fn model(dir: &std::path::Path, name: &str, scale: f32) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.safetensors"));
    write_weights(&path, &[scale, 0.0, 0.0, 0.0], 0.0);
    path
}

#[test]
fn keyed_and_processed_wrappers_keep_keys_and_inputs() {
    let dir = temp_dir("wrappers");
    let path = model(&dir, "m", 2.0);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 3,
        ..Default::default()
    };
    // Raw input: text; preprocess parses it (a parse error is one bad element); postprocess
    // formats the number.
    let handler = Linear::new(&path, cfg)
        .with_preprocess(|s: &String| {
            s.parse::<f32>()
                .map(ex)
                .map_err(|e| HandlerError::inference(format!("{s:?}: {e}")))
        })
        .with_postprocess(|y: f32| format!("{y:.1}"))
        .keyed::<u32>();
    let mut engine = InferenceEngine::new(Arc::new(handler), (), options("keyed", &clock)).unwrap();
    let mut out = engine.push((7, "1.5".to_string()));
    out.extend(engine.push((8, "oops".to_string())));
    out.extend(engine.push((9, "4".to_string())));
    let keyed: Vec<(u32, String, String)> = out
        .results
        .into_iter()
        .map(|r| {
            let (k, r) = r.into_keyed();
            (k, r.example, r.inference)
        })
        .collect();
    assert_eq!(
        keyed,
        vec![
            (7, "1.5".into(), "3.0".into()),
            (9, "4".into(), "8.0".into())
        ]
    );
    assert_eq!(out.dead_letters.len(), 1);
    assert_eq!(out.dead_letters[0].example, (8, "oops".to_string()));
    assert!(out.dead_letters[0].error.to_string().contains("\"oops\""));
}

#[test]
fn maybe_keyed_mixes_keyed_and_unkeyed() {
    let dir = temp_dir("maybe-keyed");
    let path = model(&dir, "m", 3.0);
    let clock = ManualClock::new();
    let handler = Linear::new(
        &path,
        BatchConfig {
            max_batch_size: 2,
            ..Default::default()
        },
    )
    .maybe_keyed::<&'static str>();
    let mut engine = InferenceEngine::new(Arc::new(handler), (), options("mk", &clock)).unwrap();
    let mut out = engine.push(MaybeKeyed::Keyed("a", ex(1.0)));
    out.extend(engine.push(MaybeKeyed::Unkeyed(ex(2.0))));
    let parts: Vec<(Option<&str>, f32)> = out
        .results
        .into_iter()
        .map(|r| {
            let (k, r) = r.into_maybe_keyed();
            (k, r.inference)
        })
        .collect();
    assert_eq!(parts, vec![(Some("a"), 3.0), (None, 6.0)]);
}

#[test]
fn key_model_mapping_keeps_at_most_n_models_least_recently_used_first_out() {
    let dir = temp_dir("lru");
    let manager = Arc::new(ModelManager::new());
    let handlers: Vec<Linear> = ["a", "b", "c"]
        .iter()
        .zip([1.0, 2.0, 3.0])
        .map(|(name, scale)| {
            Linear::new(&model(&dir, name, scale), BatchConfig::default()).with_id(name)
        })
        .collect();
    let loads: Vec<_> = handlers.iter().map(|h| h.loads.clone()).collect();
    let mut mapping = KeyModelMapping::new(2).with_manager(manager.clone());
    for (name, h) in ["a", "b", "c"].into_iter().zip(handlers) {
        mapping = mapping.route([format!("key-{name}")], h).unwrap();
    }
    let cache = mapping.load_model().unwrap();
    let serve = |key: &str, x: f32| -> (f32, Vec<String>) {
        let example = (key.to_string(), ex(x));
        let y = mapping.run_inference(&[&example], &cache, &()).unwrap()[0];
        (y, cache.loaded_ids())
    };
    assert_eq!(serve("key-a", 1.0), (1.0, vec!["a".into()]));
    assert_eq!(serve("key-b", 1.0), (2.0, vec!["a".into(), "b".into()]));
    assert_eq!(serve("key-a", 2.0), (2.0, vec!["a".into(), "b".into()]));
    // c needs room: b is the least recently used.
    assert_eq!(serve("key-c", 1.0), (3.0, vec!["a".into(), "c".into()]));
    assert_eq!(serve("key-b", 1.0), (2.0, vec!["b".into(), "c".into()]));
    assert_eq!(cache.load_counts(), (4, 2));
    let per_model: Vec<usize> = loads
        .iter()
        .map(|l| l.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    assert_eq!(per_model, vec![1, 2, 1]);
    // Evicted models are released from the process, not just from the cache.
    assert_eq!(manager.loaded_ids(), vec!["b".to_string(), "c".to_string()]);
    let unknown = ("key-z".to_string(), ex(1.0));
    let err = mapping.run_inference(&[&unknown], &cache, &()).unwrap_err();
    assert_eq!(
        err,
        HandlerError::UnknownKey {
            key: "\"key-z\"".into()
        }
    );
}

#[test]
fn key_model_mapping_batches_each_key_with_its_own_handler_config() {
    let dir = temp_dir("mapping-config");
    let small = Linear::new(
        &model(&dir, "small", 1.0),
        BatchConfig {
            max_batch_size: 2,
            max_wait: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .with_id("small");
    let large = Linear::new(
        &model(&dir, "large", 5.0),
        BatchConfig {
            max_batch_size: 5,
            max_wait: Duration::from_secs(9),
            ..Default::default()
        },
    )
    .with_id("large");
    let (small_sizes, large_sizes) = (small.batch_sizes.clone(), large.batch_sizes.clone());
    let mapping = KeyModelMapping::new(2)
        .route([1u8], small)
        .unwrap()
        .route([2u8], large)
        .unwrap();
    let clock = ManualClock::new();
    let mut engine =
        InferenceEngine::new(Arc::new(mapping), (), options("mapping", &clock)).unwrap();
    let mut results = Vec::new();
    let mut dead = Vec::new();
    for i in 0..12 {
        let key = if i % 3 == 0 { 1 } else { 2 };
        engine
            .push((key, ex(i as f32)))
            .drain_into(&mut results, &mut dead);
    }
    engine
        .push((3, ex(0.0)))
        .drain_into(&mut results, &mut dead);
    // After 1 s the small model's partial batch is due, the large one's is not.
    clock.advance(Duration::from_secs(1));
    engine.poll().drain_into(&mut results, &mut dead);
    assert_eq!(*small_sizes.lock().unwrap(), vec![2, 2]);
    assert_eq!(*large_sizes.lock().unwrap(), vec![5]);
    engine.flush().drain_into(&mut results, &mut dead);
    assert_eq!(*large_sizes.lock().unwrap(), vec![5, 3]);
    assert_eq!(results.len(), 12);
    for r in &results {
        let (key, r) = r.clone().into_keyed();
        let (id, scale) = if key == 1 {
            ("small", 1.0)
        } else {
            ("large", 5.0)
        };
        assert_eq!(&*r.model_id, id);
        assert_eq!(r.inference, scale * r.example[0]);
    }
    assert_eq!(dead.len(), 1);
    assert!(matches!(dead[0].error, HandlerError::UnknownKey { .. }));
}
