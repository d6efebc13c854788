//! [`Weights`]: tensors of a checkpoint addressed by their Hugging Face names.
//!
//! A model is built by asking for each tensor by name and expected shape
//! (`weights.prefix("vision_model.encoder.layers.3").get("mlp.fc1.weight", &[3072, 768])`).
//! Every request is recorded. A missing or mis-shaped tensor does not stop construction: a
//! zero-cost placeholder (a broadcast view of one zero) is returned and the problem noted, so
//! that [`Weights::finish`] can report *every* problem of a checkpoint in one error instead of
//! the first one, together with the tensors the file holds that nobody asked for.
//!
//! Contract: tensors returned by `get` are only meaningful once `finish` returned `Ok`; model
//! constructors end with `weights.finish()?` (or [`Weights::finish_ignoring`]).

use crate::error::{NnError, Result};
use crate::safetensors_file::SafetensorsFile;
use safetensors::tensor::Dtype;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tandem_tensor::{Backend, DType, Tensor};

/// What went wrong with the tensors of a checkpoint, all at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightReport {
    /// Requested but absent: (name, expected shape).
    pub missing: Vec<(String, Vec<usize>)>,
    /// Present but never requested: (name, shape on disk).
    pub unexpected: Vec<(String, Vec<usize>)>,
    /// Present with another shape: (name, expected, found).
    pub mis_shaped: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Present with a dtype that cannot be converted to the compute dtype: (name, dtype on disk).
    pub bad_dtype: Vec<(String, String)>,
}

impl WeightReport {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.mis_shaped.is_empty()
            && self.bad_dtype.is_empty()
    }
}

impl fmt::Display for WeightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, shape) in &self.missing {
            writeln!(f, "  missing:     {name} (expected shape {shape:?})")?;
        }
        for (name, expected, found) in &self.mis_shaped {
            writeln!(
                f,
                "  mis-shaped:  {name}: expected {expected:?}, found {found:?}"
            )?;
        }
        for (name, dtype) in &self.bad_dtype {
            writeln!(
                f,
                "  bad dtype:   {name}: {dtype} cannot be converted to a float compute dtype"
            )?;
        }
        for (name, shape) in &self.unexpected {
            writeln!(f, "  unexpected:  {name} (shape {shape:?})")?;
        }
        write!(
            f,
            "  ({} missing, {} mis-shaped, {} bad dtype, {} unexpected)",
            self.missing.len(),
            self.mis_shaped.len(),
            self.bad_dtype.len(),
            self.unexpected.len()
        )
    }
}

#[derive(Default)]
struct Log {
    requested: BTreeSet<String>,
    report: WeightReport,
}

struct Shared<B: Backend> {
    files: Vec<SafetensorsFile>,
    /// Tensor name → index into `files`.
    index: HashMap<String, usize>,
    backend: B,
    dtype: DType,
    log: Mutex<Log>,
}

/// The tensors of one checkpoint (one or several safetensors shards) on one backend, converted
/// to one compute dtype. Cheap to clone; clones and prefixes share the request log.
pub struct Weights<B: Backend> {
    shared: Arc<Shared<B>>,
    prefix: String,
}

impl<B: Backend> Clone for Weights<B> {
    fn clone(&self) -> Self {
        Weights {
            shared: self.shared.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

fn float_dtype(d: Dtype) -> Option<DType> {
    match d {
        Dtype::F32 => Some(DType::F32),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
}

impl<B: Backend> Weights<B> {
    /// Maps one `.safetensors` file; tensors are converted to `dtype` (a float dtype) on upload.
    pub fn from_file(path: impl AsRef<Path>, backend: &B, dtype: DType) -> Result<Self> {
        Self::from_files(&[path.as_ref()], backend, dtype)
    }

    /// Maps the shards of a checkpoint; a name present in two shards is an error.
    pub fn from_files(paths: &[&Path], backend: &B, dtype: DType) -> Result<Self> {
        if !dtype.is_float() {
            return Err(NnError::config(
                "compute dtype",
                format!("{dtype} is not a float dtype"),
            ));
        }
        let mut files = Vec::with_capacity(paths.len());
        let mut index = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            let file = SafetensorsFile::open(path)?;
            for name in file.names() {
                if index.insert(name.clone(), i).is_some() {
                    return Err(NnError::CorruptWeights {
                        path: path.to_path_buf(),
                        reason: format!("tensor `{name}` is also in another shard"),
                    });
                }
            }
            files.push(file);
        }
        let shared = Shared {
            files,
            index,
            backend: backend.clone(),
            dtype,
            log: Mutex::new(Log::default()),
        };
        Ok(Weights {
            shared: Arc::new(shared),
            prefix: String::new(),
        })
    }

    /// A view whose names are prefixed with `prefix` (joined with a `.`).
    pub fn prefix(&self, prefix: &str) -> Self {
        let prefix = match (self.prefix.is_empty(), prefix.is_empty()) {
            (_, true) => self.prefix.clone(),
            (true, false) => prefix.to_string(),
            (false, false) => format!("{}.{prefix}", self.prefix),
        };
        Weights {
            shared: self.shared.clone(),
            prefix,
        }
    }

    /// The full name of `name` under this view's prefix.
    pub fn full_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn backend(&self) -> &B {
        &self.shared.backend
    }

    /// The compute dtype every float tensor is converted to.
    pub fn dtype(&self) -> DType {
        self.shared.dtype
    }

    /// Whether the checkpoint holds `name` (under this prefix). Does not record a request.
    pub fn contains(&self, name: &str) -> bool {
        self.shared.index.contains_key(&self.full_name(name))
    }

    /// The on-disk shape of `name`, if present. Does not record a request.
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        let full = self.full_name(name);
        let file = *self.shared.index.get(&full)?;
        self.shared.files[file].entry(&full).map(|e| e.shape)
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while the lock was held cannot leave the log inconsistent (plain inserts).
        self.shared.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn placeholder(&self, shape: &[usize]) -> Result<Tensor<B>> {
        let one = Tensor::zeros(self.backend(), &[], self.dtype())?;
        Ok(one.broadcast_as(shape)?)
    }

    /// The tensor `name` with the expected `shape`, converted to the compute dtype.
    ///
    /// A missing, mis-shaped or non-float tensor is recorded for [`Weights::finish`] and a
    /// placeholder of `shape` is returned so construction can go on and find every problem.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor<B>> {
        let full = self.full_name(name);
        self.log().requested.insert(full.clone());
        let Some(&file_ix) = self.shared.index.get(&full) else {
            self.log().report.missing.push((full, shape.to_vec()));
            return self.placeholder(shape);
        };
        let file = &self.shared.files[file_ix];
        let entry = file.entry(&full).ok_or_else(|| NnError::CorruptWeights {
            path: file.path().to_path_buf(),
            reason: format!("tensor `{full}` vanished from the header"),
        })?;
        if entry.shape != shape {
            self.log()
                .report
                .mis_shaped
                .push((full, shape.to_vec(), entry.shape));
            return self.placeholder(shape);
        }
        let Some(disk) = float_dtype(entry.dtype) else {
            self.log()
                .report
                .bad_dtype
                .push((full, format!("{:?}", entry.dtype)));
            return self.placeholder(shape);
        };
        // Straight from the mapping to the device; the conversion runs on the device.
        let t = Tensor::from_bytes(self.backend(), file.bytes(&full)?, shape, disk)?;
        Ok(t.to_dtype(self.dtype())?)
    }

    /// Like [`Weights::get`], but an absent tensor is `None` and not a problem (optional biases).
    pub fn get_optional(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor<B>>> {
        if self.contains(name) {
            self.get(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Marks `name` as used without loading it (buffers such as `position_ids` that the model
    /// recomputes).
    pub fn skip(&self, name: &str) {
        let full = self.full_name(name);
        self.log().requested.insert(full);
    }

    /// Every problem so far, plus every tensor of the checkpoint not requested.
    pub fn report(&self, ignore_unused: impl Fn(&str) -> bool) -> WeightReport {
        let log = self.log();
        let mut report = log.report.clone();
        let mut unexpected: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (name, &file) in &self.shared.index {
            if !log.requested.contains(name) && !ignore_unused(name) {
                let shape = self.shared.files[file]
                    .entry(name)
                    .map(|e| e.shape)
                    .unwrap_or_default();
                unexpected.insert(name.clone(), shape);
            }
        }
        report.unexpected = unexpected.into_iter().collect();
        report.missing.sort();
        report.mis_shaped.sort();
        report.bad_dtype.sort();
        report
    }

    /// `Ok` when every requested tensor was found with its expected shape and every tensor of
    /// the checkpoint was requested; otherwise one error listing all problems.
    pub fn finish(&self) -> Result<()> {
        self.finish_ignoring(|_| false)
    }

    /// Like [`Weights::finish`], but unrequested tensors for which `ignore_unused(full_name)`
    /// holds are not reported (e.g. a pooler head the model does not use).
    pub fn finish_ignoring(&self, ignore_unused: impl Fn(&str) -> bool) -> Result<()> {
        let report = self.report(ignore_unused);
        if report.is_empty() {
            Ok(())
        } else {
            Err(NnError::WeightsMismatch(report))
        }
    }
}
