//! One memory-mapped safetensors file, validated once when opened.
//!
//! The file is mapped, never read into a buffer: tensor data is handed to the backend straight
//! from the mapping, so loading a checkpoint holds at most one extra copy of one tensor in host
//! memory (the device upload), not a second copy of the whole file.

use crate::error::{NnError, Result};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata, TensorInfo};
use safetensors::SafeTensors;
use std::fs::File;
use std::path::{Path, PathBuf};
use tandem_tensor::{bf16, f16};

/// A validated, memory-mapped safetensors file.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    mmap: Mmap,
    /// Byte offset of the data section (8-byte length prefix + JSON header).
    data_start: usize,
    metadata: Metadata,
}

/// Where one tensor lives and what it is.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl SafetensorsFile {
    /// Maps and validates `path`: the header must parse, every tensor's byte range must match its
    /// dtype and shape, and the data ranges must cover the file exactly (a truncated file fails
    /// here rather than when a tensor is read).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if cfg!(target_endian = "big") {
            return Err(NnError::CorruptWeights {
                path,
                reason: "safetensors data is little-endian and this host is big-endian".into(),
            });
        }
        let file = File::open(&path).map_err(|source| NnError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the mapping is read-only. Like every memory-mapped reader, we rely on the file
        // not being truncated by another process while mapped; model files are replaced by
        // rename, which leaves this mapping intact.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|source| NnError::Io {
            path: path.clone(),
            source,
        })?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&mmap).map_err(|e| NnError::CorruptWeights {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(SafetensorsFile {
            path,
            mmap,
            data_start: 8 + header_len,
            metadata,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of every tensor in the file.
    pub fn names(&self) -> Vec<String> {
        self.metadata.tensors().into_keys().collect()
    }

    /// Dtype and shape of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<TensorEntry> {
        self.metadata.info(name).map(|i| TensorEntry {
            dtype: i.dtype,
            shape: i.shape.clone(),
        })
    }

    /// The raw little-endian bytes of `name`, borrowed from the mapping.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let info: &TensorInfo =
            self.metadata
                .info(name)
                .ok_or_else(|| NnError::CorruptWeights {
                    path: self.path.clone(),
                    reason: format!("tensor `{name}` is not in the header"),
                })?;
        let (start, end) = info.data_offsets;
        // `read_metadata` validated the ranges against the file length; checked again so that
        // a logic error can never become an out-of-bounds slice panic.
        self.mmap
            .get(self.data_start + start..self.data_start + end)
            .ok_or_else(|| NnError::CorruptWeights {
                path: self.path.clone(),
                reason: format!(
                    "tensor `{name}` addresses bytes {start}..{end} past the end of the file"
                ),
            })
    }

    /// `name` converted to `f32` on the host (f32/f16/bf16 on disk): for tests and small
    /// tensors; models load through [`crate::Weights`], which converts on the device.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let bytes = self.bytes(name)?;
        let dtype = self.entry(name).map(|e| e.dtype);
        Ok(match dtype {
            Some(Dtype::F32) => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Some(Dtype::F16) => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Some(Dtype::BF16) => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => return Err(self.wrong_dtype(name, "a float dtype", other)),
        })
    }

    /// `name` as `i64` values on the host (I64, I32 or U32 on disk): token ids in references.
    pub fn read_i64(&self, name: &str) -> Result<Vec<i64>> {
        let bytes = self.bytes(name)?;
        let dtype = self.entry(name).map(|e| e.dtype);
        Ok(match dtype {
            Some(Dtype::I64) => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Some(Dtype::I32) => bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            Some(Dtype::U32) => bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            other => return Err(self.wrong_dtype(name, "an integer dtype", other)),
        })
    }

    fn wrong_dtype(&self, name: &str, wanted: &str, got: Option<Dtype>) -> NnError {
        NnError::CorruptWeights {
            path: self.path.clone(),
            reason: format!("tensor `{name}` is {got:?}, expected {wanted}"),
        }
    }
}
