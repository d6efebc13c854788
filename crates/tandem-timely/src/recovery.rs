//! Epochs and restart from the last epoch every sink instance committed (Bytewax's recovery
//! model on timely, which has none of its own).
//!
//! **Epochs.** Sources stamp elements with their position in the input (0, 1, 2, ...);
//! epoch `e` is positions `[e·N, (e+1)·N)`. An element reaching a sink belongs to the epoch
//! of its timestamp (element-wise steps keep their input's timestamp).
//!
//! **Commit.** Every sink instance logs the elements it receives, encoded with its input
//! collection's coder, per epoch. When its input frontier passes the end of an epoch (every
//! element of that epoch, on every process, has reached it or been dropped), it writes the
//! epoch's part file `epoch-EEEEEEEE/sS-wW.bin` (a `.tmp`, synced, then renamed) and then
//! its manifest `manifest-sS-wW.json` (the same way) saying how many epochs it committed.
//! The manifest rename is the commit point.
//!
//! **Restart.** Before its workers start, every process reads the manifests: `E`, the number
//! of epochs committed by every sink instance (`min`; 0 if one is missing or the cluster
//! shape changed). Each sink instance deletes its parts of epochs `>= E`, replays its parts
//! of epochs `< E` into the sink before any new input, and continues from `E`; sources skip
//! elements of positions below `E·N` (read, never processed: no model call is repeated for a
//! committed epoch).
//!
//! **Guarantee.** With the same arguments, the same cluster shape (processes × workers), and
//! the recovery folder shared by all processes, after any number of crashes and reruns the
//! sinks of the final complete run receive every element exactly once, provided the
//! pipeline is deterministic (or seeded) and element-wise up to its sinks. Elements of
//! uncommitted epochs are processed again: model calls are at-least-once. Windows or groups
//! spanning epochs and keyed state are not snapshotted (not supported with recovery).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tandem_pipeline::runner::api::{AnyBox, Element, ShuffleCodec, WireFormat};
use tandem_pipeline::window::Window;
use tandem_pipeline::{Error, Result, Timestamp};

/// Where and how often a run commits (see the module documentation).
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The folder of part files and manifests, shared by every process of the run.
    pub dir: PathBuf,
    /// Inputs (source positions) per epoch, at least 1.
    pub epoch_inputs: u64,
}

/// One sink instance's manifest.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Manifest {
    /// Workers of the run that wrote it (a rerun with another shape starts over).
    workers: usize,
    epoch_inputs: u64,
    /// Epochs `0..committed` are committed.
    committed: u64,
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

fn part_path(dir: &Path, epoch: u64, sid: usize, worker: usize) -> PathBuf {
    dir.join(format!("epoch-{epoch:08}"))
        .join(format!("s{sid}-w{worker}.bin"))
}

impl Recovery {
    /// The number of epochs every sink instance committed: `instances` lists `(sink step,
    /// worker)` of every sink instance of the run; `workers` is the run's worker count.
    pub(crate) fn committed_by_all(&self, instances: &[(usize, usize)], workers: usize) -> u64 {
        let mut least = u64::MAX;
        for &(sid, w) in instances {
            let path = manifest_path(&self.dir, sid, w);
            let manifest: Option<Manifest> = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match manifest {
                Some(m) if m.workers == workers && m.epoch_inputs == self.epoch_inputs => {
                    least = least.min(m.committed)
                }
                _ => return 0,
            }
        }
        if least == u64::MAX {
            0
        } else {
            least
        }
    }
}

/// One record of a part file: input port, timestamp, window, encoded value.
type Record = (u32, Timestamp, Window, Vec<u8>);

/// The epoch log of one sink instance.
pub(crate) struct EpochLog {
    recovery: Recovery,
    sid: usize,
    worker: usize,
    workers: usize,
    /// Epochs `0..committed` are committed (at start: by every instance).
    committed: u64,
    /// Encoded records of epochs not yet committed, by epoch.
    open: std::collections::BTreeMap<u64, Vec<u8>>,
    codecs: Vec<Option<Arc<dyn ShuffleCodec>>>,
}

impl EpochLog {
    /// Starts the log of sink `sid` on `worker`, resuming after `committed` epochs: deletes
    /// this instance's parts of later epochs and returns the elements to replay.
    pub(crate) fn resume(
        recovery: Recovery,
        sid: usize,
        worker: usize,
        workers: usize,
        committed: u64,
        codecs: Vec<Option<Arc<dyn ShuffleCodec>>>,
    ) -> Result<(EpochLog, Vec<(usize, Element)>)> {
        std::fs::create_dir_all(&recovery.dir).map_err(|e| io_error(&recovery.dir, e))?;
        let mut replay = Vec::new();
        let mut epochs: Vec<u64> = std::fs::read_dir(&recovery.dir)
            .map_err(|e| io_error(&recovery.dir, e))?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name();
                name.to_str()?.strip_prefix("epoch-")?.parse::<u64>().ok()
            })
            .collect();
        epochs.sort_unstable();
        for epoch in epochs {
            let path = part_path(&recovery.dir, epoch, sid, worker);
            if !path.exists() {
                continue;
            }
            if epoch >= committed {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            } else {
                let mut bytes = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(|e| io_error(&path, e))?;
                decode_part(&path, &bytes, &codecs, &mut replay)?;
            }
        }
        let log = EpochLog {
            recovery,
            sid,
            worker,
            workers,
            committed,
            open: Default::default(),
            codecs,
        };
        log.write_manifest()?;
        Ok((log, replay))
    }

    /// Appends `elem` (about to be processed on input `port`) to its epoch.
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
        let epoch = elem.timestamp.0 / self.recovery.epoch_inputs;
        let buf = self.open.entry(epoch).or_default();
        buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        buf.extend_from_slice(&bytes);
        Ok(())
    }

    /// Commits every epoch that ends at or before `frontier` (`None`: input complete, commit
    /// everything).
    pub(crate) fn commit_through(&mut self, frontier: Option<u64>) -> Result<()> {
        let complete = match frontier {
            Some(f) => f / self.recovery.epoch_inputs,
            None => self
                .open
                .keys()
                .next_back()
                .map_or(self.committed, |e| e + 1),
        };
        if complete <= self.committed {
            return Ok(());
        }
        let done: Vec<u64> = self.open.range(..complete).map(|(e, _)| *e).collect();
        for epoch in done {
            if let Some(bytes) = self.open.remove(&epoch) {
                let path = part_path(&self.recovery.dir, epoch, self.sid, self.worker);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                }
                write_atomically(&path, &bytes)?;
            }
        }
        self.committed = complete;
        self.write_manifest()
    }

    fn write_manifest(&self) -> Result<()> {
        let m = Manifest {
            workers: self.workers,
            epoch_inputs: self.recovery.epoch_inputs,
            committed: self.committed,
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

fn decode_part(
    path: &Path,
    mut bytes: &[u8],
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

    #[test]
    fn committed_by_all_is_the_least_and_zero_when_one_is_missing() {
        let dir =
            std::env::temp_dir().join(format!("tandem-timely-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = Recovery {
            dir: dir.clone(),
            epoch_inputs: 4,
        };
        let mut a = EpochLog::resume(r.clone(), 3, 0, 2, 0, vec![]).unwrap().0;
        let mut b = EpochLog::resume(r.clone(), 3, 1, 2, 0, vec![]).unwrap().0;
        a.commit_through(Some(13)).unwrap();
        b.commit_through(Some(9)).unwrap();
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1)], 2), 2);
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1), (4, 0)], 2), 0);
        assert_eq!(r.committed_by_all(&[(3, 0), (3, 1)], 3), 0, "shape changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
