//! From examples to one `Session::run` and back: checking each example against the model's
//! signature, stacking along axis 0, and splitting the outputs into one set per example.

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use crate::error::OnnxError;
use crate::session::{Signature, TensorSpec};
use crate::tensor::{DType, NamedTensors, TensorData, TensorValue};

/// Checks that example `index` has exactly the model's inputs, each of the right element type
/// and per-example shape (the model's dims without axis 0; a dynamic dim accepts any size).
pub(crate) fn check_example(
    signature: &Signature,
    index: usize,
    example: &NamedTensors,
) -> Result<(), OnnxError> {
    for name in example.names() {
        if !signature.inputs.iter().any(|s| s.name == name) {
            return Err(OnnxError::UnknownInput {
                index,
                input: name.to_string(),
                expected: signature.input_names(),
            });
        }
    }
    for spec in &signature.inputs {
        let Some(value) = example.get(&spec.name) else {
            return Err(OnnxError::MissingInput {
                index,
                input: spec.name.clone(),
                expected: signature.input_names(),
            });
        };
        if value.dtype() != spec.dtype {
            return Err(OnnxError::InputType {
                index,
                input: spec.name.clone(),
                expected: spec.dtype,
                got: value.dtype(),
            });
        }
        let per_example = spec.dims.get(1..).unwrap_or(&[]);
        let fits = value.shape().len() == per_example.len()
            && value
                .shape()
                .iter()
                .zip(per_example)
                .all(|(&got, want)| want.is_none_or(|w| w == got));
        if !fits {
            return Err(OnnxError::InputShape {
                index,
                input: spec.name.clone(),
                expected: spec.example_dims_text(),
                got: value.shape().to_vec(),
            });
        }
    }
    Ok(())
}

/// Splits example indices into groups that can share one run: examples whose inputs have the
/// same shapes (dynamic non-batch dims may differ between examples), first appearance first.
pub(crate) fn group_by_shape(signature: &Signature, batch: &[&NamedTensors]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Vec<&[usize]>, Vec<usize>)> = Vec::new();
    for (i, example) in batch.iter().enumerate() {
        let key: Vec<&[usize]> = signature
            .inputs
            .iter()
            .map(|s| example.get(&s.name).map_or(&[][..], TensorValue::shape))
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Runs `members` (checked, same shapes) as one batch and returns one output set per member.
pub(crate) fn run_group(
    session: &mut Session,
    signature: &Signature,
    batch: &[&NamedTensors],
    members: &[usize],
) -> Result<Vec<NamedTensors>, OnnxError> {
    let n = members.len();
    let mut inputs: Vec<(String, SessionInputValue<'static>)> = Vec::new();
    for spec in &signature.inputs {
        let (shape, data) = stack(spec, batch, members);
        inputs.push((spec.name.clone(), to_ort(&spec.name, shape, data)?.into()));
    }
    let outputs = session
        .run(inputs)
        .map_err(OnnxError::runtime("running the model"))?;
    let mut per_example = vec![NamedTensors::new(); n];
    for spec in &signature.outputs {
        let Some(value) = outputs.get(&spec.name) else {
            return Err(OnnxError::Unsupported {
                name: spec.name.clone(),
                reason: "declared by the model but missing from its outputs".into(),
            });
        };
        let (shape, data) = from_ort(&spec.name, spec.dtype, value)?;
        if shape.first() != Some(&(n as i64)) {
            return Err(OnnxError::OutputBatch {
                output: spec.name.clone(),
                shape,
                batch: n,
            });
        }
        let row_shape: Vec<usize> = shape[1..]
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        let row_len: usize = row_shape.iter().product();
        for (i, out) in per_example.iter_mut().enumerate() {
            let row = TensorValue::from_parts(row_shape.clone(), data.slice(i * row_len, row_len));
            out.insert(spec.name.clone(), row);
        }
    }
    Ok(per_example)
}

/// Stacks the members' tensors for `spec` along a new axis 0.
fn stack(spec: &TensorSpec, batch: &[&NamedTensors], members: &[usize]) -> (Vec<i64>, TensorData) {
    let first = members
        .first()
        .and_then(|&i| batch[i].get(&spec.name))
        .map_or(&[][..], TensorValue::shape);
    let mut shape = vec![members.len() as i64];
    shape.extend(first.iter().map(|&d| d as i64));
    let row: usize = first.iter().product();
    let mut data = TensorData::with_capacity(spec.dtype, row * members.len());
    for &i in members {
        if let Some(value) = batch[i].get(&spec.name) {
            data.extend_from(value.data());
        }
    }
    (shape, data)
}

fn to_ort(name: &str, shape: Vec<i64>, data: TensorData) -> Result<DynValue, OnnxError> {
    let context = || format!("creating the input tensor `{name}`");
    let value = match data {
        TensorData::F32(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
        TensorData::F64(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
        TensorData::I32(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
        TensorData::I64(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
        TensorData::U8(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
        TensorData::Bool(v) => Tensor::from_array((shape, v)).map(Tensor::into_dyn),
    };
    value.map_err(|source| OnnxError::Runtime {
        context: context(),
        source,
    })
}

fn from_ort(
    name: &str,
    dtype: DType,
    value: &DynValue,
) -> Result<(Vec<i64>, TensorData), OnnxError> {
    let context = || format!("reading the output `{name}` as {dtype}");
    let err = |source| OnnxError::Runtime {
        context: context(),
        source,
    };
    Ok(match dtype {
        DType::F32 => {
            let (s, d) = value.try_extract_tensor::<f32>().map_err(err)?;
            (s.to_vec(), TensorData::F32(d.to_vec()))
        }
        DType::F64 => {
            let (s, d) = value.try_extract_tensor::<f64>().map_err(err)?;
            (s.to_vec(), TensorData::F64(d.to_vec()))
        }
        DType::I32 => {
            let (s, d) = value.try_extract_tensor::<i32>().map_err(err)?;
            (s.to_vec(), TensorData::I32(d.to_vec()))
        }
        DType::I64 => {
            let (s, d) = value.try_extract_tensor::<i64>().map_err(err)?;
            (s.to_vec(), TensorData::I64(d.to_vec()))
        }
        DType::U8 => {
            let (s, d) = value.try_extract_tensor::<u8>().map_err(err)?;
            (s.to_vec(), TensorData::U8(d.to_vec()))
        }
        DType::Bool => {
            let (s, d) = value.try_extract_tensor::<bool>().map_err(err)?;
            (s.to_vec(), TensorData::Bool(d.to_vec()))
        }
    })
}
