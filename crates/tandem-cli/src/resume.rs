//! Resuming: the `--out` file of an earlier run says which images are done.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::CliError;
use crate::records::ImageResult;

/// The results already in `path` (none if it does not exist). A torn last line (the run was
/// killed mid-write) is ignored, so that image is simply done again.
pub fn completed(path: &Path) -> Result<Vec<ImageResult>, CliError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::io(path, e)),
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| CliError::io(path, e))?;
        if let Ok(r) = serde_json::from_str::<ImageResult>(&line) {
            if seen.insert(r.image.clone()) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Makes sure an existing file ends with a newline, so appended lines never join a torn one.
pub fn repair_tail(path: &Path) -> Result<(), CliError> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| CliError::io(path, e))?;
        f.write_all(b"\n").map_err(|e| CliError::io(path, e))?;
    }
    Ok(())
}
