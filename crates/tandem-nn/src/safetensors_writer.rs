//! Writing safetensors files from host data: random-weight checkpoints for benchmarks and
//! tests, and small files for loader tests.

use crate::error::{NnError, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;
use tandem_tensor::{bf16, f16, DType};

/// One tensor to write: its name, shape and values (stored as `dtype` on disk).
#[derive(Clone, Debug)]
pub struct HostTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

fn encode(values: &[f32], dtype: DType) -> Result<(Dtype, Vec<u8>)> {
    Ok(match dtype {
        DType::F32 => (
            Dtype::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DType::F16 => (
            Dtype::F16,
            values
                .iter()
                .flat_map(|v| f16::from_f32(*v).to_le_bytes())
                .collect(),
        ),
        DType::BF16 => (
            Dtype::BF16,
            values
                .iter()
                .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
                .collect(),
        ),
        other => {
            return Err(NnError::config(
                "safetensors dtype",
                format!("{other} is not a float dtype"),
            ))
        }
    })
}

/// Writes `tensors` to `path` with every value stored as `dtype` (f32, f16 or bf16).
pub fn write_safetensors(path: &Path, tensors: &[HostTensor], dtype: DType) -> Result<()> {
    let mut encoded = Vec::with_capacity(tensors.len());
    for t in tensors {
        let count: usize = t.shape.iter().product();
        if count != t.values.len() {
            return Err(NnError::input(
                "write_safetensors",
                format!(
                    "`{}` has {} values for shape {:?}",
                    t.name,
                    t.values.len(),
                    t.shape
                ),
            ));
        }
        encoded.push((t.name.clone(), t.shape.clone(), encode(&t.values, dtype)?));
    }
    let mut views = Vec::with_capacity(encoded.len());
    for (name, shape, (dt, bytes)) in &encoded {
        let view = TensorView::new(*dt, shape.clone(), bytes)
            .map_err(|e| NnError::input("write_safetensors", format!("`{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize_to_file(views, None, path).map_err(|e| NnError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Writes a safetensors file tensor by tensor without holding all values in memory:
/// `fill(name, buffer)` is called once per entry of `specs` (name, shape) with a buffer of the
/// tensor's length to overwrite. Used to build full-size random-weight checkpoints.
pub fn write_safetensors_with(
    path: &Path,
    specs: &[(String, Vec<usize>)],
    dtype: DType,
    mut fill: impl FnMut(&str, &mut [f32]),
) -> Result<()> {
    use std::io::Write;
    let io_err = |source: std::io::Error| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (tag, size) = match dtype {
        DType::F32 => ("F32", 4),
        DType::F16 => ("F16", 2),
        DType::BF16 => ("BF16", 2),
        other => {
            return Err(NnError::config(
                "safetensors dtype",
                format!("{other} is not a float dtype"),
            ))
        }
    };
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in specs {
        let bytes = shape.iter().product::<usize>() * size;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": tag, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut out = std::io::BufWriter::new(file);
    out.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io_err)?;
    out.write_all(text.as_bytes()).map_err(io_err)?;
    let mut buf = Vec::new();
    for (name, shape) in specs {
        buf.clear();
        buf.resize(shape.iter().product(), 0f32);
        fill(name, &mut buf);
        let (_, bytes) = encode(&buf, dtype)?;
        out.write_all(&bytes).map_err(io_err)?;
    }
    out.flush().map_err(io_err)
}
