//! Model refresh: a watched path or a stream of model metadata swaps the served model.
//!
//! Updates are published into a [`ModelUpdates`] hub shared by all workers of a step, so every
//! worker sees the same sequence of versions. Each engine checks the hub between batches, loads
//! the new version through the shared registry (once per process), and swaps its handle: batches
//! already running keep their lease on the old copy and finish on it, later batches use the new
//! one, and each result's `model_id` names the version that served it. A version that fails to
//! load is reported once and the old model keeps serving.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Describes a model version to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMetadata {
    /// The id results and metrics will carry, and the registry key: distinct per version.
    pub model_id: String,
    /// Where to load it from, when it is a file.
    pub path: Option<PathBuf>,
}

/// A source of model updates, polled by [`ModelUpdates`].
pub trait ModelWatcher: Send {
    /// Returns the newest update since the last call, if any.
    fn poll(&mut self) -> Option<ModelMetadata>;
}

/// A channel of metadata: the newest message wins.
impl ModelWatcher for Receiver<ModelMetadata> {
    fn poll(&mut self) -> Option<ModelMetadata> {
        let mut newest = None;
        loop {
            match self.try_recv() {
                Ok(meta) => newest = Some(meta),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return newest,
            }
        }
    }
}

/// What identifies a file's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVersion {
    /// Last modification time.
    pub modified: SystemTime,
    /// Size in bytes.
    pub len: u64,
}

/// Reads a file's version; a trait so tests can drive changes without touching mtimes.
pub trait FileStat: Send {
    /// The version of `path`, or an error if it cannot be read right now.
    fn stat(&mut self, path: &Path) -> std::io::Result<FileVersion>;
}

/// [`FileStat`] from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsStat;

impl FileStat for FsStat {
    fn stat(&mut self, path: &Path) -> std::io::Result<FileVersion> {
        let meta = std::fs::metadata(path)?;
        Ok(FileVersion {
            modified: meta.modified()?,
            len: meta.len(),
        })
    }
}

/// Watches one path: a change of modification time or size is a new version, published with
/// `model_id = "<path>@<mtime in ns>-<len>"` and `path` set. The first observation is the
/// baseline (the model loaded at start), not an update. A missing or unreadable file (mid-copy)
/// is ignored until it can be read.
pub struct PathWatcher<S: FileStat = FsStat> {
    path: PathBuf,
    stat: S,
    last: Option<FileVersion>,
}

impl PathWatcher<FsStat> {
    /// Watches `path` on the file system.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_stat(path, FsStat)
    }
}

impl<S: FileStat> PathWatcher<S> {
    /// Watches `path` through `stat`.
    pub fn with_stat(path: impl Into<PathBuf>, stat: S) -> Self {
        let path = path.into();
        let mut watcher = PathWatcher {
            path,
            stat,
            last: None,
        };
        watcher.last = watcher.stat.stat(&watcher.path).ok();
        watcher
    }
}

impl<S: FileStat> ModelWatcher for PathWatcher<S> {
    fn poll(&mut self) -> Option<ModelMetadata> {
        let version = self.stat.stat(&self.path).ok()?;
        if self.last == Some(version) {
            return None;
        }
        self.last = Some(version);
        let nanos = version
            .modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Some(ModelMetadata {
            model_id: format!("{}@{}-{}", self.path.display(), nanos, version.len),
            path: Some(self.path.clone()),
        })
    }
}

struct Hub {
    generation: u64,
    latest: Option<ModelMetadata>,
    watcher: Option<Box<dyn ModelWatcher>>,
    check_every: Duration,
    last_check: Option<Instant>,
}

/// The shared feed of model updates for one step (clone it into every worker's engine).
#[derive(Clone)]
pub struct ModelUpdates {
    hub: Arc<Mutex<Hub>>,
}

impl Default for ModelUpdates {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelUpdates {
    /// A feed that changes only through [`ModelUpdates::publish`].
    pub fn new() -> Self {
        ModelUpdates {
            hub: Arc::new(Mutex::new(Hub {
                generation: 0,
                latest: None,
                watcher: None,
                check_every: Duration::ZERO,
                last_check: None,
            })),
        }
    }

    /// A feed that polls `watcher` at most every `check_every` (on the engines' clock).
    pub fn watching(watcher: impl ModelWatcher + 'static, check_every: Duration) -> Self {
        let updates = Self::new();
        {
            let mut hub = updates.lock();
            hub.watcher = Some(Box::new(watcher));
            hub.check_every = check_every;
        }
        updates
    }

    /// Announces a new model version to every engine on this feed.
    pub fn publish(&self, metadata: ModelMetadata) {
        let mut hub = self.lock();
        hub.generation += 1;
        hub.latest = Some(metadata);
    }

    /// The newest update if it is newer than `seen`, polling the watcher first when due.
    pub fn newer_than(&self, seen: u64, now: Instant) -> Option<(u64, ModelMetadata)> {
        let mut hub = self.lock();
        let due = hub
            .last_check
            .is_none_or(|t| now.saturating_duration_since(t) >= hub.check_every);
        if due {
            if let Some(meta) = hub.watcher.as_mut().and_then(|w| w.poll()) {
                hub.generation += 1;
                hub.latest = Some(meta);
            }
            hub.last_check = Some(now);
        }
        match &hub.latest {
            Some(meta) if hub.generation > seen => Some((hub.generation, meta.clone())),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeStat(Arc<Mutex<Option<FileVersion>>>);
    impl FileStat for FakeStat {
        fn stat(&mut self, _: &Path) -> std::io::Result<FileVersion> {
            let v = *self.0.lock().unwrap();
            v.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "gone"))
        }
    }

    #[test]
    fn path_watcher_reports_changes_only() {
        let state = Arc::new(Mutex::new(Some(FileVersion {
            modified: UNIX_EPOCH,
            len: 10,
        })));
        let mut w = PathWatcher::with_stat("m.safetensors", FakeStat(state.clone()));
        assert_eq!(w.poll(), None);
        *state.lock().unwrap() = None;
        assert_eq!(w.poll(), None);
        *state.lock().unwrap() = Some(FileVersion {
            modified: UNIX_EPOCH,
            len: 12,
        });
        let meta = w.poll().unwrap();
        assert_eq!(meta.model_id, "m.safetensors@0-12");
        assert_eq!(w.poll(), None);
    }

    #[test]
    fn hub_respects_check_interval_and_generations() {
        let (tx, rx) = std::sync::mpsc::channel();
        let updates = ModelUpdates::watching(rx, Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(updates.newer_than(0, t0).is_none());
        let meta = ModelMetadata {
            model_id: "v2".into(),
            path: None,
        };
        tx.send(meta.clone()).unwrap();
        // Not due yet: the watcher is not polled.
        assert!(updates
            .newer_than(0, t0 + Duration::from_millis(10))
            .is_none());
        let (generation, got) = updates.newer_than(0, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(got, meta);
        assert!(updates
            .newer_than(generation, t0 + Duration::from_secs(3))
            .is_none());
    }
}
