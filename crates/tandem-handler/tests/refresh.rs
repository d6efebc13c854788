//! Model refresh mid-stream: through a metadata feed and through a watched path. Nothing is
//! dropped, results name the version that served them, old versions are released.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::{ex, options, temp_dir, write_weights, Linear};
use tandem_handler::{
    BatchConfig, FileStat, FileVersion, HandlerError, InferenceEngine, ManualClock, ModelManager,
    ModelMetadata, ModelUpdates, PathWatcher,
};

fn cfg() -> BatchConfig {
    BatchConfig {
        max_batch_size: 4,
        max_wait: Duration::from_secs(1),
        ..Default::default()
    }
}

#[test]
fn metadata_update_swaps_model_mid_stream_without_dropping_elements() {
    let dir = temp_dir("refresh-meta");
    let v1 = dir.join("v1.safetensors");
    let v2 = dir.join("v2.safetensors");
    write_weights(&v1, &[1.0, 0.0, 0.0, 0.0], 0.0); // y = x
    write_weights(&v2, &[10.0, 0.0, 0.0, 0.0], 0.0); // y = 10x
    let clock = ManualClock::new();
    let manager = Arc::new(ModelManager::new());
    let updates = ModelUpdates::new();
    let handler = Arc::new(Linear::new(&v1, cfg()).with_id("linear@v1"));
    let opts = options("refresh", &clock)
        .with_manager(manager.clone())
        .with_updates(updates.clone());
    // Two workers on the same feed.
    let mut a = InferenceEngine::new(handler.clone(), (), opts.clone()).unwrap();
    let mut b = InferenceEngine::new(handler.clone(), (), opts).unwrap();
    let mut results = Vec::new();
    let mut dead = Vec::new();
    for i in 0..6 {
        a.push(ex(i as f32)).drain_into(&mut results, &mut dead);
        b.push(ex(i as f32)).drain_into(&mut results, &mut dead);
    }
    // Each worker has 2 elements waiting when the update arrives.
    assert_eq!(a.buffered() + b.buffered(), 4);
    assert_eq!(manager.loaded_ids(), vec!["linear@v1".to_string()]);
    updates.publish(ModelMetadata {
        model_id: "linear@v2".into(),
        path: Some(v2.clone()),
    });
    for i in 6..10 {
        a.push(ex(i as f32)).drain_into(&mut results, &mut dead);
        b.push(ex(i as f32)).drain_into(&mut results, &mut dead);
    }
    a.flush().drain_into(&mut results, &mut dead);
    b.flush().drain_into(&mut results, &mut dead);

    assert!(dead.is_empty());
    assert_eq!(results.len(), 20);
    for r in &results {
        let x = r.example[0];
        match &*r.model_id {
            "linear@v1" => assert_eq!(r.inference, x),
            "linear@v2" => assert_eq!(r.inference, 10.0 * x),
            other => panic!("unexpected model id {other}"),
        }
    }
    let v1_served = results
        .iter()
        .filter(|r| &*r.model_id == "linear@v1")
        .count();
    assert_eq!(
        v1_served, 8,
        "the first full batches of each worker ran on v1"
    );
    // v2 loaded once for both workers; v1 was released when both swapped.
    assert_eq!(handler.loads.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(manager.loaded_ids(), vec!["linear@v2".to_string()]);
    assert_eq!(a.current_model_id().as_deref(), Some("linear@v2"));
}

#[test]
fn failed_update_keeps_the_old_model_and_is_reported() {
    let dir = temp_dir("refresh-fail");
    let v1 = dir.join("v1.safetensors");
    write_weights(&v1, &[1.0, 0.0, 0.0, 0.0], 0.0);
    let clock = ManualClock::new();
    let updates = ModelUpdates::new();
    let handler = Arc::new(Linear::new(&v1, cfg()).with_id("v1"));
    let opts = options("refresh-fail", &clock).with_updates(updates.clone());
    let mut engine = InferenceEngine::new(handler, (), opts).unwrap();
    engine.ensure_loaded().unwrap();
    let bad = dir.join("absent.safetensors");
    updates.publish(ModelMetadata {
        model_id: "v2".into(),
        path: Some(bad),
    });
    let mut out = engine.push(ex(3.0));
    out.extend(engine.flush());
    assert_eq!(out.results.len(), 1);
    assert_eq!(&*out.results[0].model_id, "v1");
    assert!(
        matches!(engine.last_refresh_error(), Some(HandlerError::Load { model_id, .. }) if model_id == "v2")
    );
    let report = engine.metrics().report();
    assert_eq!(
        report.get("refresh-fail", "v2").map(|s| s.load_failures),
        Some(1)
    );
}

/// A file stat the test controls, so no real mtime resolution is involved.
#[derive(Clone)]
struct TestStat(Arc<Mutex<FileVersion>>);

impl FileStat for TestStat {
    fn stat(&mut self, _: &Path) -> std::io::Result<FileVersion> {
        Ok(*self.0.lock().unwrap())
    }
}

#[test]
fn watched_path_change_reloads_the_file() {
    let dir = temp_dir("refresh-watch");
    let path = dir.join("model.safetensors");
    write_weights(&path, &[2.0, 0.0, 0.0, 0.0], 0.0);
    let version = Arc::new(Mutex::new(FileVersion {
        modified: UNIX_EPOCH,
        len: 1,
    }));
    let watcher = PathWatcher::with_stat(&path, TestStat(version.clone()));
    let updates = ModelUpdates::watching(watcher, Duration::from_secs(5));
    let clock = ManualClock::new();
    let handler = Arc::new(Linear::new(&path, cfg()));
    let opts = options("watch", &clock).with_updates(updates);
    let mut engine = InferenceEngine::new(handler, (), opts).unwrap();

    let mut out = engine.push(ex(1.0));
    out.extend(engine.flush());
    // The file is replaced in place and its stat changes.
    write_weights(&path, &[3.0, 0.0, 0.0, 0.0], 0.0);
    *version.lock().unwrap() = FileVersion {
        modified: UNIX_EPOCH + Duration::from_secs(9),
        len: 2,
    };
    // Not checked again until the interval passes on the engine's clock.
    out.extend(engine.push(ex(1.0)));
    out.extend(engine.flush());
    clock.advance(Duration::from_secs(5));
    out.extend(engine.push(ex(1.0)));
    out.extend(engine.flush());

    let ys: Vec<f32> = out.results.iter().map(|r| r.inference).collect();
    assert_eq!(ys, vec![2.0, 2.0, 3.0]);
    let new_id = format!("{}@9000000000-2", path.display());
    assert_eq!(&*out.results[2].model_id, new_id.as_str());
    assert_eq!(
        &*out.results[0].model_id,
        path.display().to_string().as_str()
    );
}
