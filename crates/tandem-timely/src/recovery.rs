//! Epochs, commits and restart for the timely runner (Bytewax's recovery model on timely,
//! which has none of its own); the contract is documented on [`Recovery`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tandem_pipeline::runner::api::{AnyBox, Element, ShuffleCodec, WireFormat};
use tandem_pipeline::window::Window;
use tandem_pipeline::{Error, Result, Timestamp};

/// Where and how often a run commits, and what a rerun after a crash guarantees (Bytewax's
/// recovery model on timely, which has none of its own).
///
/// **Epochs.** Sources stamp elements with their position in the input (0, 1, 2, ...), and
/// element-wise steps keep their input's timestamp, so an element reaching a sink carries the
/// position of the input it came from. An epoch is a range of positions `[lo, hi)`. It ends
/// at every multiple of [`Recovery::epoch_inputs`] or, with [`Recovery::epoch_interval`], as
/// soon as that much wall time has passed since the last commit, at the frontier of that
/// moment, whichever comes first. Time-based boundaries depend on the speed of the run, so
/// each is recorded: the manifest lists every committed part with its `[lo, hi)`, and a
/// rerun replays exactly those ranges.
///
/// **Commit.** Two kinds of step instance keep a log: every sink, and every step that keeps
/// state per key ([`Placement::ByKey`](tandem_pipeline::runner::api::Placement::ByKey):
/// groups, combines, co-groups). Each logs the elements it receives, encoded with its input's
/// coder (a keyed step's shuffle codec), by timestamp. When its input frontier passes the
/// end of an epoch (every element below it, on every process, has reached it or been
/// dropped), it writes the epoch's records to a part file `sS-wW/part-NNNNNNNN.bin` (a
/// `.tmp`, synced, then renamed) and then its manifest `manifest-sS-wW.json` (the same way):
/// the position below which it has committed everything, and its parts. The manifest rename
/// is the commit point.
///
/// **Keyed state.** A keyed step's state at position `P` is the panes still open there: the
/// values of windows that end at or after `P` (a window ending earlier has fired, and its
/// pane reached the sinks below `P`). Its log is that state's changelog: a restart at `P`
/// feeds the step the logged elements below `P` whose window ends at or after `P`, which
/// rebuilds exactly those panes. They fire at their window's end, at or after `P`, so
/// nothing the step emits repeats a result the sinks committed before the crash. A part
/// whose windows all end below the least committed position of the run can never be needed
/// again and is deleted at the next commit, so the log holds the open windows' values (for a
/// combine, its inputs rather than its accumulators). In the global window every value stays
/// until the end of input, as the group itself holds it.
///
/// **Restart.** Before its workers start, every process reads the manifests: `P`, the least
/// committed position over every logged instance (0 if one is missing or the number of
/// workers changed). The instances commit at different positions, so each keeps the records
/// of its parts below `P` only: it replays them (a sink: all; a keyed step: those of windows
/// still open at `P`) before any new input, deletes parts (and part files) at or above `P`,
/// and continues from `P`. Sources skip elements at positions below `P` (read, never
/// processed: no model call is repeated for them).
///
/// **Guarantee.** With the same arguments, the same number of workers over the cluster, and
/// the recovery folder shared by all processes, after any number of crashes and reruns the
/// sinks of the final complete run receive every element exactly once, provided the
/// pipeline is deterministic (or seeded): element-wise steps and groups, combines and
/// co-groups under the default trigger, in any windowing. A trigger that fires early (by
/// count or processing time) or late data make the panes depend on arrival order, which no
/// rerun reproduces: each value is still in exactly one pane of the final run's output at or
/// above `P`, but the panes may be cut differently than in the crashed run. Elements at or
/// above `P` are processed again: model calls are at-least-once.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The folder of part files and manifests, shared by every process of the run.
    pub dir: PathBuf,
    /// An epoch ends at every multiple of this many source positions (at least 1;
    /// `u64::MAX` ends epochs by time only).
    pub epoch_inputs: u64,
    /// An epoch also ends once this much wall time has passed since the last commit, at the
    /// frontier of that moment (Bytewax's `epoch_interval`); `None`: by position only.
    pub epoch_interval: Option<Duration>,
}

impl Recovery {
    /// Commits into `dir` every `epoch_inputs` source positions (at least 1).
    pub fn new(dir: impl Into<PathBuf>, epoch_inputs: u64) -> Self {
        Recovery {
            dir: dir.into(),
            epoch_inputs: epoch_inputs.max(1),
            epoch_interval: None,
        }
    }

    /// Also ends an epoch once `interval` has passed since the last commit.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.epoch_interval = Some(interval);
        self
    }
}

/// A committed part file: the records of positions `[lo, hi)` one instance received.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Part {
    seq: u64,
    lo: u64,
    hi: u64,
    /// The latest [`Window::max_timestamp`] of its records: a keyed step needs the part
    /// while a restart may come at or below it.
    until: u64,
}

/// What a log is for, which decides what a restart replays from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogKind {
    /// A sink's input: every record below the restart position is replayed.
    Sink,
    /// A keyed step's input: the records below the restart position whose window is still
    /// open there (see [`Recovery`]).
    KeyedState,
}

/// Where a run starts: the recovery settings, the position below which every logged
/// instance committed, and those instances.
#[derive(Clone, Debug)]
pub(crate) struct Resume {
    pub(crate) recovery: Recovery,
    pub(crate) committed: u64,
    /// `(step, worker)` of every instance that keeps a log.
    pub(crate) instances: Arc<[(usize, usize)]>,
}

/// One logged instance's manifest.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Manifest {
    /// Workers of the run that wrote it (a rerun with another number starts over).
    workers: usize,
    /// Every element below this position is committed.
    committed: u64,
    /// The part files holding them, in order.
    parts: Vec<Part>,
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a synced `.tmp` file, then a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    f.sync_all().map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

fn manifest_path(dir: &Path, sid: usize, worker: usize) -> PathBuf {
    dir.join(format!("manifest-s{sid}-w{worker}.json"))
}

fn instance_dir(dir: &Path, sid: usize, worker: usize) -> PathBuf {
    dir.join(format!("s{sid}-w{worker}"))
}

fn part_path(dir: &Path, sid: usize, worker: usize, seq: u64) -> PathBuf {
    instance_dir(dir, sid, worker).join(format!("part-{seq:08}.bin"))
}

fn read_manifest(dir: &Path, sid: usize, worker: usize, workers: usize) -> Option<Manifest> {
    let bytes = std::fs::read(manifest_path(dir, sid, worker)).ok()?;
    let m: Manifest = serde_json::from_slice(&bytes).ok()?;
    (m.workers == workers).then_some(m)
}

impl Recovery {
    /// The least position every logged instance committed: `instances` lists `(step,
    /// worker)` of every instance that keeps a log; `workers` is the run's worker count.
    pub(crate) fn committed_by_all(&self, instances: &[(usize, usize)], workers: usize) -> u64 {
        let mut least = u64::MAX;
        for &(sid, w) in instances {
            match read_manifest(&self.dir, sid, w, workers) {
                Some(m) => least = least.min(m.committed),
                None => return 0,
            }
        }
        if instances.is_empty() {
            0
        } else {
            least
        }
    }
}

/// One record of a part file: input port, timestamp, window, encoded value.
type Record = (u32, Timestamp, Window, Vec<u8>);

/// Records of one timestamp not yet committed: encoded, and the latest window end among them.
#[derive(Default)]
struct Bucket {
    bytes: Vec<u8>,
    until: u64,
}

/// The epoch log of one sink or keyed step instance.
pub(crate) struct EpochLog {
    recovery: Recovery,
    kind: LogKind,
    /// Every logged instance of the run (a keyed log deletes parts below their least
    /// committed position).
    instances: Arc<[(usize, usize)]>,
    sid: usize,
    worker: usize,
    workers: usize,
    /// Every element below this position is committed.
    committed: u64,
    parts: Vec<Part>,
    next_seq: u64,
    /// When the last epoch ended (or the log started).
    last_commit: Instant,
    /// Records not yet committed, by timestamp.
    open: BTreeMap<u64, Bucket>,
    codecs: Vec<Option<Arc<dyn ShuffleCodec>>>,
}

impl EpochLog {
    /// Starts the log of step `sid` on `worker`, resuming at `resume.committed` (the least
    /// over every instance): keeps this instance's records below it, deletes the rest, and
    /// returns the elements to replay ([`LogKind`] says which), in commit order.
    pub(crate) fn resume(
        resume: &Resume,
        kind: LogKind,
        sid: usize,
        worker: usize,
        workers: usize,
        codecs: Vec<Option<Arc<dyn ShuffleCodec>>>,
    ) -> Result<(EpochLog, Vec<(usize, Element)>)> {
        let recovery = resume.recovery.clone();
        let committed = resume.committed;
        // A keyed step needs the records of windows still open at `committed` only.
        let open_from = match kind {
            LogKind::Sink => 0,
            LogKind::KeyedState => committed,
        };
        let own = instance_dir(&recovery.dir, sid, worker);
        std::fs::create_dir_all(&own).map_err(|e| io_error(&own, e))?;
        let manifest = read_manifest(&recovery.dir, sid, worker, workers);
        let mut parts = Vec::new();
        let mut replay = Vec::new();
        for part in manifest.map(|m| m.parts).unwrap_or_default() {
            if part.lo >= committed || part.until < open_from {
                continue;
            }
            let part = Part {
                hi: part.hi.min(committed),
                ..part
            };
            let path = part_path(&recovery.dir, sid, worker, part.seq);
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| io_error(&path, e))?;
            decode_part(&path, &bytes, (part.hi, open_from), &codecs, &mut replay)?;
            parts.push(part);
        }
        // Part files not kept: beyond `committed`, or written by a run that died before its
        // manifest named them.
        for entry in std::fs::read_dir(&own).map_err(|e| io_error(&own, e))? {
            let path = entry.map_err(|e| io_error(&own, e))?.path();
            let kept = parts
                .iter()
                .any(|p| path == part_path(&recovery.dir, sid, worker, p.seq));
            if !kept {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            }
        }
        let log = EpochLog {
            recovery,
            kind,
            instances: Arc::clone(&resume.instances),
            sid,
            worker,
            workers,
            committed,
            next_seq: parts.last().map_or(0, |p| p.seq + 1),
            parts,
            last_commit: Instant::now(),
            open: BTreeMap::new(),
            codecs,
        };
        log.write_manifest()?;
        Ok((log, replay))
    }

    /// Appends `elem` (about to be processed on input `port`) to the open records.
    pub(crate) fn record(&mut self, port: usize, elem: &Element) -> Result<(), String> {
        let codec = self
            .codecs
            .get(port)
            .and_then(Option::as_ref)
            .ok_or_else(|| String::from("sink input without a coder"))?;
        let mut value = Vec::new();
        codec
            .encode(&elem.value, WireFormat::Binary, &mut value)
            .map_err(|e| e.to_string())?;
        let record: Record = (port as u32, elem.timestamp, elem.window, value);
        let bytes = postcard::to_allocvec(&record).map_err(|e| e.to_string())?;
        let bucket = self.open.entry(elem.timestamp.0).or_default();
        bucket
            .bytes
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        bucket.bytes.extend_from_slice(&bytes);
        bucket.until = bucket.until.max(elem.window.max_timestamp().0);
        Ok(())
    }

    /// When the open epoch ends by time, if the run has an interval and the epoch has
    /// records or the input frontier `frontier` is past the committed position (an instance
    /// that receives nothing must still commit, or the run's least committed position, where
    /// a rerun resumes, would stay behind with it).
    pub(crate) fn next_interval_end(&self, frontier: u64) -> Option<Instant> {
        let interval = self.recovery.epoch_interval?;
        (!self.open.is_empty() || frontier > self.committed).then(|| self.last_commit + interval)
    }

    /// Ends the epochs the input frontier `frontier` has passed at `now` (`None`: input
    /// complete, commit everything): up to the last multiple of `epoch_inputs` below the
    /// frontier, or up to the frontier itself once the interval has passed.
    pub(crate) fn commit_through(&mut self, frontier: Option<u64>, now: Instant) -> Result<()> {
        let target = match frontier {
            None => u64::MAX,
            Some(f) => {
                let timed_out = self
                    .recovery
                    .epoch_interval
                    .is_some_and(|i| now.saturating_duration_since(self.last_commit) >= i);
                if timed_out {
                    f
                } else {
                    f - f % self.recovery.epoch_inputs.max(1)
                }
            }
        };
        if target <= self.committed {
            return Ok(());
        }
        let later = self.open.split_off(&target);
        let done = std::mem::replace(&mut self.open, later);
        if !done.is_empty() {
            let part = Part {
                seq: self.next_seq,
                lo: self.committed,
                hi: target,
                until: done.values().map(|b| b.until).max().unwrap_or(0),
            };
            let path = part_path(&self.recovery.dir, self.sid, self.worker, part.seq);
            let bytes: Vec<u8> = done.into_values().flat_map(|b| b.bytes).collect();
            write_atomically(&path, &bytes)?;
            self.parts.push(part);
            self.next_seq += 1;
        }
        self.committed = target;
        self.last_commit = now;
        let expired = self.expired_parts();
        self.write_manifest()?;
        // After the manifest stops naming them (a crash before this line leaves files that
        // the next resume deletes as strays).
        for part in expired {
            let path = part_path(&self.recovery.dir, self.sid, self.worker, part.seq);
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
        Ok(())
    }

    /// Removes from a keyed log the parts whose windows all end below the least position
    /// any instance has committed: every later restart comes at or above it (committed
    /// positions only grow, and a restart resumes at their least), so none replays them.
    fn expired_parts(&mut self) -> Vec<Part> {
        if self.kind != LogKind::KeyedState {
            return Vec::new();
        }
        let floor = self
            .recovery
            .committed_by_all(&self.instances, self.workers)
            .min(self.committed);
        let (expired, kept) = self.parts.iter().partition(|p| p.until < floor);
        self.parts = kept;
        expired
    }

    fn write_manifest(&self) -> Result<()> {
        let m = Manifest {
            workers: self.workers,
            committed: self.committed,
            parts: self.parts.clone(),
        };
        let bytes = serde_json::to_vec(&m).map_err(|e| Error::Worker {
            step: String::from("timely"),
            message: e.to_string(),
        })?;
        write_atomically(
            &manifest_path(&self.recovery.dir, self.sid, self.worker),
            &bytes,
        )
    }
}

/// Decodes into `out` the records of one part file with timestamps below `hi` and a window
/// ending at or after `open_from`.
fn decode_part(
    path: &Path,
    mut bytes: &[u8],
    (hi, open_from): (u64, u64),
    codecs: &[Option<Arc<dyn ShuffleCodec>>],
    out: &mut Vec<(usize, Element)>,
) -> Result<()> {
    let corrupt = |what: String| {
        io_error(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, what),
        )
    };
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_at_checked(4)
            .ok_or_else(|| corrupt("truncated".into()))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (record, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| corrupt("truncated record".into()))?;
        bytes = rest;
        let (port, timestamp, window, value): Record =
            postcard::from_bytes(record).map_err(|e| corrupt(e.to_string()))?;
        if timestamp.0 >= hi {
            // Committed by this instance but not by every instance: it is processed again.
            continue;
        }
        if window.max_timestamp().0 < open_from {
            // Its pane fired before the restart position: the sinks hold it.
            continue;
        }
        let codec = codecs
            .get(port as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| corrupt(format!("record for input {port} without a coder")))?;
        let value: AnyBox = codec
            .decode(&value, WireFormat::Binary)
            .map_err(|e| corrupt(e.to_string()))?;
        out.push((
            port as usize,
            Element {
                value,
                timestamp,
                window,
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_pipeline::runner::api::ValueCodec;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tandem-timely-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn codecs() -> Vec<Option<Arc<dyn ShuffleCodec>>> {
        vec![Some(Arc::new(ValueCodec::<u64>::new()))]
    }

    fn resume_at(r: &Recovery, committed: u64) -> Resume {
        Resume {
            recovery: r.clone(),
            committed,
            instances: Arc::from(vec![(3, 0), (3, 1)]),
        }
    }

    fn log_of(r: &Recovery, kind: LogKind, worker: usize, committed: u64) -> (EpochLog, Vec<u64>) {
        let resume = resume_at(r, committed);
        let (log, replay) = EpochLog::resume(&resume, kind, 3, worker, 2, codecs()).unwrap();
        let values = replay
            .into_iter()
            .map(|(_, e)| *e.value.downcast::<u64>().unwrap())
            .collect();
        (log, values)
    }

    fn log(r: &Recovery, worker: usize, committed: u64) -> (EpochLog, Vec<u64>) {
        log_of(r, LogKind::Sink, worker, committed)
    }

    /// The end of the global window, where every element of `record` is.
    const GLOBAL_END: u64 = u64::MAX - 1;

    fn record(log: &mut EpochLog, positions: impl IntoIterator<Item = u64>) {
        for i in positions {
            let elem = Element::new(Box::new(i) as AnyBox, Timestamp(i));
            log.record(0, &elem).unwrap();
        }
    }

    /// Records positions in the window `[0, 12)` below 12 and `[12, 40)` from 12 on.
    fn record_windowed(log: &mut EpochLog, positions: impl IntoIterator<Item = u64>) {
        for i in positions {
            let (start, end) = if i < 12 { (0, 12) } else { (12, 40) };
            let elem = Element {
                value: Box::new(i) as AnyBox,
                timestamp: Timestamp(i),
                window: Window::Interval { start, end },
            };
            log.record(0, &elem).unwrap();
        }
    }

    #[test]
    fn a_keyed_log_replays_the_windows_open_at_the_restart_and_drops_closed_ones() {
        let dir = temp("keyed");
        let r = Recovery::new(&dir, 5);
        let now = Instant::now();
        let (mut a, _) = log_of(&r, LogKind::KeyedState, 0, 0);
        let (mut b, _) = log_of(&r, LogKind::KeyedState, 1, 0);
        record_windowed(&mut a, 0..10);
        a.commit_through(Some(10), now).unwrap();
        b.commit_through(Some(10), now).unwrap();
        record_windowed(&mut a, 10..25);
        a.commit_through(Some(25), now).unwrap();
        assert_eq!(
            a.parts.iter().map(|p| (p.seq, p.until)).collect::<Vec<_>>(),
            vec![(0, 11), (1, 39)],
            "the run has committed only below 10: window [0, 12) may be needed"
        );
        b.commit_through(Some(22), now).unwrap();
        record_windowed(&mut a, 25..30);
        a.commit_through(Some(30), now).unwrap();
        assert_eq!(
            a.parts.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![1, 2],
            "every instance has committed below 20, past the end of [0, 12)"
        );
        assert!(!part_path(&dir, 3, 0, 0).exists(), "its file is deleted");
        drop((a, b));

        let p = r.committed_by_all(&[(3, 0), (3, 1)], 2);
        assert_eq!(p, 20);
        let (a, replay) = log_of(&r, LogKind::KeyedState, 0, p);
        assert_eq!(
            replay,
            (12..20).collect::<Vec<_>>(),
            "below 20 and in the window still open there; 10 and 11 fired in [0, 12)"
        );
        assert_eq!(
            a.parts
                .iter()
                .map(|p| (p.seq, p.lo, p.hi))
                .collect::<Vec<_>>(),
            vec![(1, 10, 20)]
        );
        assert!(
            !part_path(&dir, 3, 0, 2).exists(),
            "above the restart: deleted"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_sink_log_keeps_every_part_and_replays_every_window() {
        let dir = temp("sink-windows");
        let r = Recovery::new(&dir, 5);
        let now = Instant::now();
        let (mut a, _) = log(&r, 0, 0);
        let (mut b, _) = log(&r, 1, 0);
        record_windowed(&mut a, 0..10);
        a.commit_through(Some(10), now).unwrap();
        b.commit_through(Some(20), now).unwrap();
        record_windowed(&mut a, 10..30);
        a.commit_through(Some(30), now).unwrap();
        assert_eq!(
            a.parts.len(),
            2,
            "a sink's parts are its output: none expires"
        );
        drop((a, b));
        assert_eq!(log(&r, 0, 20).1, (0..20).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn committed_by_all_is_the_least_and_zero_when_one_is_missing() {
        let dir = temp("manifest");
        let r = Recovery::new(&dir, 4);
        let now = Instant::now();
        let mut a = log(&r, 0, 0).0;
        let mut b = log(&r, 1, 0).0;
        a.commit_through(Some(13), now).unwrap();
        b.commit_through(Some(9), now).unwrap();
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1)], 2), 8);
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1), (4, 0)], 2), 0);
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1)], 3), 0, "shape changed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn epochs_end_at_the_frontier_once_the_interval_has_passed() {
        let dir = temp("interval");
        let r = Recovery::new(&dir, 100).with_interval(Duration::from_secs(5));
        let (mut a, _) = log(&r, 0, 0);
        let start = a.last_commit;
        record(&mut a, 0..7);
        assert_eq!(a.next_interval_end(0), Some(start + Duration::from_secs(5)));
        a.commit_through(Some(7), start + Duration::from_secs(4))
            .unwrap();
        assert_eq!(a.committed, 0, "neither 100 positions nor 5 s yet");
        a.commit_through(Some(6), start + Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            a.committed, 6,
            "the interval ends the epoch at the frontier"
        );
        assert_eq!(
            a.parts,
            vec![Part {
                seq: 0,
                lo: 0,
                hi: 6,
                until: GLOBAL_END
            }]
        );
        assert_eq!(a.open.keys().copied().collect::<Vec<_>>(), vec![6]);
        record(&mut a, 7..130);
        a.commit_through(Some(120), start + Duration::from_secs(6))
            .unwrap();
        assert_eq!(a.committed, 100, "a multiple of epoch_inputs comes first");
        a.commit_through(None, start + Duration::from_secs(6))
            .unwrap();
        assert_eq!(a.committed, u64::MAX);
        assert_eq!(a.parts.len(), 3);
        assert_eq!(a.next_interval_end(u64::MAX), None, "nothing open");
        let (b, _) = log(&r, 1, 0);
        assert_eq!(
            b.next_interval_end(0),
            None,
            "nothing received, nothing to commit"
        );
        assert_eq!(
            b.next_interval_end(3),
            Some(b.last_commit + Duration::from_secs(5)),
            "nothing received, but the frontier moved: the empty epoch is committed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_resume_replays_only_what_every_instance_committed() {
        let dir = temp("resume");
        let r = Recovery::new(&dir, 1).with_interval(Duration::ZERO);
        let now = Instant::now();
        let (mut a, _) = log(&r, 0, 0);
        let (mut b, _) = log(&r, 1, 0);
        record(&mut a, [0, 2, 4]);
        a.commit_through(Some(3), now).unwrap();
        record(&mut a, [6, 8]);
        a.commit_through(Some(9), now).unwrap();
        record(&mut b, [1, 3, 5]);
        b.commit_through(Some(6), now).unwrap();
        record(&mut b, [7]);
        // A part written by a run that died before its manifest named it.
        let stray = part_path(&dir, 3, 1, 7);
        std::fs::write(&stray, b"garbage").unwrap();
        drop((a, b));

        let p = r.committed_by_all(&[(3, 0), (3, 1)], 2);
        assert_eq!(p, 6, "b committed below 6 only");
        let (a, replay_a) = log(&r, 0, p);
        let (b, replay_b) = log(&r, 1, p);
        assert_eq!(replay_a, vec![0, 2, 4], "8 and 6 are processed again");
        assert_eq!(replay_b, vec![1, 3, 5]);
        assert_eq!(
            a.parts,
            vec![
                Part {
                    seq: 0,
                    lo: 0,
                    hi: 3,
                    until: GLOBAL_END
                },
                Part {
                    seq: 1,
                    lo: 3,
                    hi: 6,
                    until: GLOBAL_END
                }
            ]
        );
        assert!(!stray.exists(), "a part no manifest names is deleted");
        assert_eq!(a.next_seq, 2);
        assert_eq!(b.committed, 6);
        // The resumed manifests agree, so a second crash now resumes at the same place.
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1)], 2), 6);
        assert_eq!(log(&r, 0, 6).1, vec![0, 2, 4]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
