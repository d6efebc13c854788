//! Resuming: the `--out` file of an earlier run says which images are done.
//!
//! `--out` is appended to, so it is the one file a mistake could destroy. Before anything is
//! written, [`open_out`] takes an exclusive lock on it (two runs appending the same images
//! would duplicate them), checks that it is this tool's JSON Lines (a photo or a CSV given as
//! `--out` is refused, not appended to), and mends a last line torn by a killed run: a complete
//! record that only lacks its line break gets one; an incomplete one is cut off, so the file
//! stays valid JSON Lines and that image is simply done again.

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::records::ImageResult;

/// The open, locked `--out` file. The lock is released when this is dropped (or the process
/// ends, however it ends).
#[derive(Debug)]
pub struct OutLock {
    _file: File,
    path: PathBuf,
}

impl OutLock {
    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What [`open_out`] found in `--out`.
#[derive(Debug)]
pub struct Resumed {
    /// The lock, held for the whole run.
    pub lock: OutLock,
    /// The results already there, first occurrence of each image and arm.
    pub results: Vec<ImageResult>,
    /// Bytes of a torn last line that were cut off (0 if none).
    pub torn_bytes: u64,
    /// Complete lines that start like a record but do not parse (torn records an earlier
    /// version closed with a line break): left in place and skipped.
    pub damaged: usize,
}

fn refuse(reason: String) -> CliError {
    CliError::Argument {
        option: "--out",
        reason,
    }
}

/// Locks `path` (creating it if needed), reads the results already in it and mends a torn
/// last line.
///
/// # Errors
/// [`CliError::Argument`] naming `--out` if the file is not a regular file, is locked by
/// another run, or has a complete line that is not a result record (line number and parse
/// error given); [`CliError::Io`] if it cannot be opened, read or mended.
pub fn open_out(path: &Path) -> Result<Resumed, CliError> {
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(refuse(format!(
                "{} is not a regular file; --out must be a JSON Lines file it can append to",
                path.display()
            )));
        }
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| CliError::io(path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(refuse(format!(
                "{} is being written by another tandem run (it holds the file's lock); wait for it to finish or choose another --out",
                path.display()
            )))
        }
        Err(TryLockError::Error(e)) => return Err(CliError::io(path, e)),
    }
    let mut damaged = 0;
    let (results, complete_len) = read_results(&file, path, &mut damaged)?;
    let len = file.metadata().map_err(|e| CliError::io(path, e))?.len();
    let torn_bytes = len.saturating_sub(complete_len);
    if torn_bytes > 0 {
        file.set_len(complete_len)
            .map_err(|e| CliError::io(path, e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| CliError::io(path, e))?;
    }
    if complete_len > 0 && !ends_with_newline(&mut file, complete_len, path)? {
        file.write_all(b"\n").map_err(|e| CliError::io(path, e))?;
    }
    Ok(Resumed {
        lock: OutLock {
            _file: file,
            path: path.to_path_buf(),
        },
        results,
        torn_bytes,
        damaged,
    })
}

/// The results already in `path` (first occurrence of each image and arm), read without locking or
/// mending it: what the other processes of a timely run use, so that they skip the same
/// inputs as process 0, which holds the lock and writes the file. A missing file has none.
/// Every process reads before the cluster starts (timely connects all processes before
/// any step runs), so none of them sees a result of this run.
///
/// # Errors
/// As [`open_out`], except that a lock held by process 0 is expected, not an error.
pub fn read_unlocked(path: &Path) -> Result<Vec<ImageResult>, CliError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::io(path, e)),
    };
    let mut damaged = 0;
    Ok(read_results(&file, path, &mut damaged)?.0)
}

fn ends_with_newline(file: &mut File, len: u64, path: &Path) -> Result<bool, CliError> {
    use std::io::Read;
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut last))
        .and_then(|_| file.seek(SeekFrom::End(0)))
        .map_err(|e| CliError::io(path, e))?;
    Ok(last[0] == b'\n')
}

/// How every line [`ImageResult`] writes begins (serde keeps the field order).
const RECORD_START: &[u8] = b"{\"image\":";

/// Whether `text` is (the start of) a line [`ImageResult`] wrote: it begins with
/// [`RECORD_START`], or is cut so short that it is a prefix of it.
fn looks_like_a_record(text: &[u8]) -> bool {
    text.starts_with(RECORD_START) || RECORD_START.starts_with(text)
}

/// The results in `file` (first occurrence of each image and arm: a shadow A/B run writes
/// two records per image) and the length of its complete part: everything but a last line
/// that is not a whole record.
fn read_results(
    file: &File,
    path: &Path,
    damaged: &mut usize,
) -> Result<(Vec<ImageResult>, u64), CliError> {
    let mut reader = BufReader::new(file);
    let mut results = Vec::new();
    let mut seen = HashSet::new();
    let mut line = Vec::new();
    let (mut offset, mut number) = (0u64, 0usize);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::io(path, e))?;
        if n == 0 {
            return Ok((results, offset));
        }
        number += 1;
        let terminated = line.ends_with(b"\n");
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            offset += n as u64;
            continue;
        }
        match serde_json::from_slice::<ImageResult>(text) {
            Ok(r) => {
                if seen.insert((r.image.clone(), r.arm.clone())) {
                    results.push(r);
                }
            }
            // The last line of a killed run (it starts as every record does): cut it off,
            // that image is done again. Anything else is not ours and is never cut.
            Err(_) if !terminated && looks_like_a_record(text) => {
                return Ok((results, offset))
            }
            // A torn record that an earlier version closed with a line break: kept in the
            // file (it is not ours to delete), skipped, counted; that image is done again.
            Err(_) if looks_like_a_record(text) => *damaged += 1,
            Err(e) => {
                return Err(refuse(format!(
                    "{} line {number} is not a tandem result record ({e}); refusing to append to a file that is not this tool's JSON Lines: choose another --out",
                    path.display()
                )))
            }
        }
        offset += n as u64;
    }
}
