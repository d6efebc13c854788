//! The KServe v2 / Triton inference protocol ("Open Inference Protocol"), JSON over HTTP:
//! `POST /v2/models/{name}[/versions/{version}]/infer`.
//!
//! A batch is one request: each input tensor is the examples' tensors stacked along a new axis
//! 0 (`shape: [batch, ...]`, `data` row-major and flat), and each output of the answer is split
//! back along axis 0, one row per example.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::RemoteError;
use crate::protocol::Protocol;

/// A tensor's data in one of the protocol's datatypes (`FP32`, `FP64`, `INT32`, `INT64`,
/// `BOOL`, `BYTES` as UTF-8 strings), row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum InferData {
    Fp32(Vec<f32>),
    Fp64(Vec<f64>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Bool(Vec<bool>),
    Bytes(Vec<String>),
}

impl InferData {
    /// The protocol's name of the datatype.
    pub fn datatype(&self) -> &'static str {
        match self {
            InferData::Fp32(_) => "FP32",
            InferData::Fp64(_) => "FP64",
            InferData::Int32(_) => "INT32",
            InferData::Int64(_) => "INT64",
            InferData::Bool(_) => "BOOL",
            InferData::Bytes(_) => "BYTES",
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            InferData::Fp32(v) => v.len(),
            InferData::Fp64(v) => v.len(),
            InferData::Int32(v) => v.len(),
            InferData::Int64(v) => v.len(),
            InferData::Bool(v) => v.len(),
            InferData::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_json(&self) -> Vec<Value> {
        match self {
            InferData::Fp32(v) => v.iter().map(|&x| Value::from(x)).collect(),
            InferData::Fp64(v) => v.iter().map(|&x| Value::from(x)).collect(),
            InferData::Int32(v) => v.iter().map(|&x| Value::from(x)).collect(),
            InferData::Int64(v) => v.iter().map(|&x| Value::from(x)).collect(),
            InferData::Bool(v) => v.iter().map(|&x| Value::from(x)).collect(),
            InferData::Bytes(v) => v.iter().map(|x| Value::from(x.as_str())).collect(),
        }
    }

    /// Reads flat (or nested) JSON values as `datatype`.
    fn from_json(datatype: &str, values: &[Value]) -> Result<InferData, String> {
        let mut flat = Vec::new();
        flatten(values, &mut flat);
        let bad = |what: &str| format!("a {datatype} element is not {what}");
        Ok(match datatype {
            "FP32" => InferData::Fp32(
                flat.iter()
                    .map(|v| v.as_f64().map(|x| x as f32).ok_or_else(|| bad("a number")))
                    .collect::<Result<_, _>>()?,
            ),
            "FP64" => InferData::Fp64(
                flat.iter()
                    .map(|v| v.as_f64().ok_or_else(|| bad("a number")))
                    .collect::<Result<_, _>>()?,
            ),
            "INT32" => InferData::Int32(
                flat.iter()
                    .map(|v| {
                        v.as_i64()
                            .and_then(|x| i32::try_from(x).ok())
                            .ok_or_else(|| bad("a 32-bit integer"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "INT64" => InferData::Int64(
                flat.iter()
                    .map(|v| v.as_i64().ok_or_else(|| bad("an integer")))
                    .collect::<Result<_, _>>()?,
            ),
            "BOOL" => InferData::Bool(
                flat.iter()
                    .map(|v| v.as_bool().ok_or_else(|| bad("a boolean")))
                    .collect::<Result<_, _>>()?,
            ),
            "BYTES" => InferData::Bytes(
                flat.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad("a string"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("datatype {other} is not supported")),
        })
    }

    fn empty_like(&self) -> InferData {
        match self {
            InferData::Fp32(_) => InferData::Fp32(Vec::new()),
            InferData::Fp64(_) => InferData::Fp64(Vec::new()),
            InferData::Int32(_) => InferData::Int32(Vec::new()),
            InferData::Int64(_) => InferData::Int64(Vec::new()),
            InferData::Bool(_) => InferData::Bool(Vec::new()),
            InferData::Bytes(_) => InferData::Bytes(Vec::new()),
        }
    }

    fn slice(&self, start: usize, len: usize) -> InferData {
        let r = start..start + len;
        match self {
            InferData::Fp32(v) => InferData::Fp32(v[r].to_vec()),
            InferData::Fp64(v) => InferData::Fp64(v[r].to_vec()),
            InferData::Int32(v) => InferData::Int32(v[r].to_vec()),
            InferData::Int64(v) => InferData::Int64(v[r].to_vec()),
            InferData::Bool(v) => InferData::Bool(v[r].to_vec()),
            InferData::Bytes(v) => InferData::Bytes(v[r].to_vec()),
        }
    }
}

fn flatten<'a>(values: &'a [Value], out: &mut Vec<&'a Value>) {
    for v in values {
        match v {
            Value::Array(inner) => flatten(inner, out),
            other => out.push(other),
        }
    }
}

/// A named tensor. In an example or a prediction its shape is **per example** (no batch axis).
#[derive(Debug, Clone, PartialEq)]
pub struct InferTensor {
    /// The model's input or output name.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major data; its length is the product of `shape`.
    pub data: InferData,
}

impl InferTensor {
    /// A rank-1 `FP32` tensor (one embedding, one feature vector).
    pub fn fp32(name: impl Into<String>, values: Vec<f32>) -> InferTensor {
        InferTensor {
            name: name.into(),
            shape: vec![values.len()],
            data: InferData::Fp32(values),
        }
    }

    /// The data as `f32`, when that is its type.
    pub fn as_fp32(&self) -> Option<&[f32]> {
        match &self.data {
            InferData::Fp32(v) => Some(v),
            _ => None,
        }
    }
}

/// One example's inputs, or one example's outputs: tensors by name.
pub type InferTensors = Vec<InferTensor>;

/// Finds the tensor `name` among `tensors`.
pub fn tensor<'a>(tensors: &'a [InferTensor], name: &str) -> Option<&'a InferTensor> {
    tensors.iter().find(|t| t.name == name)
}

/// The KServe v2 protocol for the model `name` (optionally one `version`), asking for
/// `outputs` (all of the model's outputs when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct KServeV2 {
    /// The model's name on the server.
    pub model: String,
    /// The model version, when the server has several.
    pub version: Option<String>,
    /// The outputs to return; empty for all.
    pub outputs: Vec<String>,
}

impl KServeV2 {
    /// The model `model`, latest version, all outputs.
    pub fn new(model: impl Into<String>) -> Self {
        KServeV2 {
            model: model.into(),
            version: None,
            outputs: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct RequestTensor<'a> {
    name: &'a str,
    shape: Vec<usize>,
    datatype: &'static str,
    data: Vec<Value>,
}

#[derive(Serialize)]
struct RequestOutput<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct InferRequest<'a> {
    inputs: Vec<RequestTensor<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    outputs: Vec<RequestOutput<'a>>,
}

#[derive(Deserialize)]
struct ResponseTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Vec<Value>,
}

#[derive(Deserialize)]
struct InferResponse {
    outputs: Vec<ResponseTensor>,
}

fn request_error(reason: String) -> RemoteError {
    RemoteError::Request { reason }
}

impl Protocol for KServeV2 {
    type Example = InferTensors;
    type Prediction = InferTensors;

    fn path(&self) -> String {
        match &self.version {
            Some(v) => format!("/v2/models/{}/versions/{v}/infer", self.model),
            None => format!("/v2/models/{}/infer", self.model),
        }
    }

    /// Stacks each input along a new axis 0. Every example must have the first example's
    /// inputs with the same shapes and datatypes; the error names the input and the example.
    fn encode(&self, batch: &[&InferTensors]) -> Result<String, RemoteError> {
        let Some(first) = batch.first() else {
            return Err(request_error("empty batch".into()));
        };
        let mut inputs = Vec::with_capacity(first.len());
        for spec in first.iter() {
            let per_example: usize = spec.shape.iter().product();
            let mut data = Vec::with_capacity(per_example * batch.len());
            for (index, example) in batch.iter().enumerate() {
                let Some(t) = tensor(example, &spec.name) else {
                    return Err(request_error(format!(
                        "example {index} has no input `{}`",
                        spec.name
                    )));
                };
                if t.shape != spec.shape || t.data.datatype() != spec.data.datatype() {
                    return Err(request_error(format!(
                        "example {index}: input `{}` is {} {:?}, but example 0's is {} {:?} (a batch stacks equal shapes)",
                        spec.name,
                        t.data.datatype(),
                        t.shape,
                        spec.data.datatype(),
                        spec.shape
                    )));
                }
                if t.data.len() != per_example {
                    return Err(request_error(format!(
                        "example {index}: input `{}` has {} values for shape {:?}",
                        spec.name,
                        t.data.len(),
                        t.shape
                    )));
                }
                data.extend(t.data.to_json());
            }
            let mut shape = vec![batch.len()];
            shape.extend(&spec.shape);
            inputs.push(RequestTensor {
                name: &spec.name,
                shape,
                datatype: spec.data.datatype(),
                data,
            });
        }
        for (index, example) in batch.iter().enumerate() {
            if let Some(extra) = example.iter().find(|t| tensor(first, &t.name).is_none()) {
                return Err(request_error(format!(
                    "example {index} has an input `{}` that example 0 lacks",
                    extra.name
                )));
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|name| RequestOutput { name })
            .collect();
        serde_json::to_string(&InferRequest { inputs, outputs })
            .map_err(|e| request_error(format!("cannot write JSON: {e}")))
    }

    fn decode(&self, body: &str, batch_len: usize) -> Result<Vec<InferTensors>, String> {
        let response: InferResponse =
            serde_json::from_str(body).map_err(|e| format!("not a v2 inference response: {e}"))?;
        let mut per_example: Vec<InferTensors> = vec![Vec::new(); batch_len];
        for output in response.outputs {
            let data = InferData::from_json(&output.datatype, &output.data)
                .map_err(|e| format!("output `{}`: {e}", output.name))?;
            let dims: Vec<usize> = output
                .shape
                .iter()
                .map(|&d| {
                    usize::try_from(d)
                        .map_err(|_| format!("output `{}` has a negative dim", output.name))
                })
                .collect::<Result<_, _>>()?;
            if dims.first() != Some(&batch_len) {
                return Err(format!(
                    "output `{}` has shape {dims:?}, expected {batch_len} rows along axis 0",
                    output.name
                ));
            }
            let row_shape = dims[1..].to_vec();
            let row: usize = row_shape.iter().product();
            if data.len() != row * batch_len {
                return Err(format!(
                    "output `{}` has {} values for shape {dims:?}",
                    output.name,
                    data.len()
                ));
            }
            for (i, out) in per_example.iter_mut().enumerate() {
                let slice = if row == 0 {
                    data.empty_like()
                } else {
                    data.slice(i * row, row)
                };
                out.push(InferTensor {
                    name: output.name.clone(),
                    shape: row_shape.clone(),
                    data: slice,
                });
            }
        }
        Ok(per_example)
    }

    fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("kserve-v2:{}:{v}", self.model),
            None => format!("kserve-v2:{}", self.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_stacked_batch_and_splits_the_answer() {
        let p = KServeV2::new("m");
        let a = vec![InferTensor::fp32("x", vec![1.0, 2.0])];
        let b = vec![InferTensor::fp32("x", vec![3.0, 4.0])];
        let body = p.encode(&[&a, &b]).expect("encodes");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["inputs"][0]["shape"], serde_json::json!([2, 2]));
        assert_eq!(v["inputs"][0]["datatype"], "FP32");
        assert_eq!(
            v["inputs"][0]["data"],
            serde_json::json!([1.0, 2.0, 3.0, 4.0])
        );
        let answer = r#"{"model_name":"m","outputs":[{"name":"y","shape":[2,1],"datatype":"INT64","data":[[7],[8]]}]}"#;
        let out = p.decode(answer, 2).expect("decodes");
        assert_eq!(out[1][0].data, InferData::Int64(vec![8]));
        assert_eq!(out[1][0].shape, vec![1]);
        assert!(p.decode(answer, 3).is_err(), "row count is checked");
    }

    #[test]
    fn mismatched_examples_name_the_input() {
        let p = KServeV2::new("m");
        let a = vec![InferTensor::fp32("x", vec![1.0, 2.0])];
        let b = vec![InferTensor::fp32("x", vec![3.0])];
        let err = p.encode(&[&a, &b]).expect_err("shapes differ");
        assert!(err.to_string().contains("example 1: input `x`"), "{err}");
        assert_eq!(p.path(), "/v2/models/m/infer");
    }
}
