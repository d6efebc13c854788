//! Plain tensors in and out of the handler: a shape and a typed buffer, row-major.
//!
//! These are not `tandem_tensor` tensors on purpose: an ONNX model's inputs are whatever the
//! user's pipeline produces (embeddings, token ids, masks), so the handler takes owned,
//! backend-free buffers that any step can build, and gives back the same.

use std::fmt;

use crate::error::OnnxError;

/// An ONNX tensor element type this crate serves (ONNX `TensorProto.DataType` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `FLOAT`
    F32,
    /// `DOUBLE`
    F64,
    /// `INT32`
    I32,
    /// `INT64`
    I64,
    /// `UINT8`
    U8,
    /// `BOOL`
    Bool,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        })
    }
}

/// A typed, row-major buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

impl TensorData {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty buffer of `dtype` with room for `capacity` elements.
    pub(crate) fn with_capacity(dtype: DType, capacity: usize) -> Self {
        match dtype {
            DType::F32 => TensorData::F32(Vec::with_capacity(capacity)),
            DType::F64 => TensorData::F64(Vec::with_capacity(capacity)),
            DType::I32 => TensorData::I32(Vec::with_capacity(capacity)),
            DType::I64 => TensorData::I64(Vec::with_capacity(capacity)),
            DType::U8 => TensorData::U8(Vec::with_capacity(capacity)),
            DType::Bool => TensorData::Bool(Vec::with_capacity(capacity)),
        }
    }

    /// Appends `other` (same dtype; the caller checked).
    pub(crate) fn extend_from(&mut self, other: &TensorData) {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(b),
            (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(b),
            (TensorData::I32(a), TensorData::I32(b)) => a.extend_from_slice(b),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(b),
            (TensorData::U8(a), TensorData::U8(b)) => a.extend_from_slice(b),
            (TensorData::Bool(a), TensorData::Bool(b)) => a.extend_from_slice(b),
            _ => {}
        }
    }

    /// Elements `[start, start + len)` as a new buffer.
    pub(crate) fn slice(&self, start: usize, len: usize) -> TensorData {
        let r = start..start + len;
        match self {
            TensorData::F32(v) => TensorData::F32(v[r].to_vec()),
            TensorData::F64(v) => TensorData::F64(v[r].to_vec()),
            TensorData::I32(v) => TensorData::I32(v[r].to_vec()),
            TensorData::I64(v) => TensorData::I64(v[r].to_vec()),
            TensorData::U8(v) => TensorData::U8(v[r].to_vec()),
            TensorData::Bool(v) => TensorData::Bool(v[r].to_vec()),
        }
    }
}

/// A tensor: shape and row-major data whose length is the product of the shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorValue {
    shape: Vec<usize>,
    data: TensorData,
}

impl TensorValue {
    /// A tensor of `shape` holding `data`; fails with [`OnnxError::DataLength`] (naming `name`)
    /// when the lengths disagree.
    pub fn new(name: &str, shape: Vec<usize>, data: TensorData) -> Result<TensorValue, OnnxError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(OnnxError::DataLength {
                name: name.to_string(),
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(TensorValue { shape, data })
    }

    /// A rank-1 `f32` tensor (e.g. one embedding).
    pub fn vector_f32(values: Vec<f32>) -> TensorValue {
        TensorValue {
            shape: vec![values.len()],
            data: TensorData::F32(values),
        }
    }

    /// A rank-1 `i64` tensor (e.g. token ids).
    pub fn vector_i64(values: Vec<i64>) -> TensorValue {
        TensorValue {
            shape: vec![values.len()],
            data: TensorData::I64(values),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The data.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The data as `f32`, when that is its type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The data as `i64`, when that is its type.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Moves the buffer out.
    pub fn into_data(self) -> TensorData {
        self.data
    }

    pub(crate) fn from_parts(shape: Vec<usize>, data: TensorData) -> TensorValue {
        TensorValue { shape, data }
    }
}

/// Named tensors: one example's inputs, or one example's outputs. Each tensor is **per
/// example**, without the batch axis: for a model input `[batch, 12]` an example holds `[12]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamedTensors {
    entries: Vec<(String, TensorValue)>,
}

impl NamedTensors {
    /// No tensors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the tensor `name`.
    pub fn with(mut self, name: impl Into<String>, value: TensorValue) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) the tensor `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: TensorValue) {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Option<&TensorValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Names in insertion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// `(name, tensor)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_length_must_match_shape() {
        let err = TensorValue::new("x", vec![2, 3], TensorData::F32(vec![0.0; 5]));
        assert!(matches!(
            err,
            Err(OnnxError::DataLength {
                expected: 6,
                got: 5,
                ..
            })
        ));
        assert!(TensorValue::new("x", vec![2, 3], TensorData::F32(vec![0.0; 6])).is_ok());
    }

    #[test]
    fn named_tensors_replace_by_name() {
        let t = NamedTensors::new()
            .with("a", TensorValue::vector_f32(vec![1.0]))
            .with("b", TensorValue::vector_i64(vec![2]))
            .with("a", TensorValue::vector_f32(vec![3.0]));
        assert_eq!(t.names().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(t.get("a").and_then(TensorValue::as_f32), Some(&[3.0][..]));
    }
}
