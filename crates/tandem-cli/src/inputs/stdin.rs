//! `tandem caption -`: inputs read from standard input as they arrive.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tandem_pipeline::io::{positional, ElementIter, EventIter};
use tandem_pipeline::Source;

use super::{os_from_bytes, single, InputRef};

/// What reading the inputs from stdin skipped, readable while and after the run goes.
#[derive(Clone, Debug, Default)]
pub struct StdinCounts {
    inner: Arc<Mutex<StdinTally>>,
}

#[derive(Debug, Default)]
struct StdinTally {
    read: usize,
    resumed: usize,
    duplicates: usize,
}

impl StdinCounts {
    /// `(inputs read, skipped because --out has them, repeated lines merged)`.
    pub fn get(&self) -> (usize, usize, usize) {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (t.read, t.resumed, t.duplicates)
    }

    fn count(&self, f: impl FnOnce(&mut StdinTally)) {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// One path or URL per line of standard input, read as the lines arrive (an unbounded
/// source), so a producer that writes a path and waits sees its result before it closes
/// stdin. Lines are taken verbatim, as in `@list` files: only the line break is removed,
/// empty lines are skipped, and names may be any bytes. Inputs already in `--out` (`done`)
/// and repeated lines are skipped and counted.
pub struct StdinInputs {
    done: HashSet<String>,
    counts: StdinCounts,
}

impl StdinInputs {
    /// Reads stdin, skipping the ids in `done`; tallies into `counts`.
    pub fn new(done: HashSet<String>, counts: StdinCounts) -> Self {
        StdinInputs { done, counts }
    }
}

impl Source for StdinInputs {
    type Item = InputRef;
    fn default_name(&self) -> String {
        String::from("ReadStdin")
    }
    fn is_bounded(&self) -> bool {
        false
    }
    fn open(self) -> Result<ElementIter<InputRef>, tandem_pipeline::Error> {
        let StdinInputs { done, counts } = self;
        let mut seen: HashSet<String> = HashSet::new();
        let stdin = std::io::stdin();
        Ok(Box::new(std::iter::from_fn(move || loop {
            let mut line = Vec::new();
            match stdin.lock().read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(tandem_pipeline::Error::Io {
                        path: PathBuf::from("<stdin>"),
                        source,
                    }))
                }
            }
            let Some(text) = super::list_lines(&line).next() else {
                continue;
            };
            let input = single(&os_from_bytes(text.to_vec()));
            if done.contains(&input.id) {
                counts.count(|t| t.resumed += 1);
                continue;
            }
            if !seen.insert(input.id.clone()) {
                counts.count(|t| t.duplicates += 1);
                continue;
            }
            counts.count(|t| t.read += 1);
            return Some(Ok(input));
        })))
    }
    /// One stdin, one reader: the first worker (of process 0 on a timely run) reads every
    /// line and the others read nothing. The default split would have each reader take
    /// lines off the same stream and keep only "its" positions, losing the rest.
    fn open_split(
        self,
        worker: usize,
        _peers: usize,
    ) -> Result<EventIter<InputRef>, tandem_pipeline::Error> {
        if worker == 0 {
            Ok(positional(self.open()?, 0, 1))
        } else {
            Ok(Box::new(std::iter::empty()))
        }
    }
}
