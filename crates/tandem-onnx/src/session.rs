//! Session options and the model's signature (named inputs and outputs, from its metadata).

use std::path::Path;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Outlet, TensorElementType, ValueType};

use crate::error::OnnxError;
use crate::tensor::DType;

/// Where ONNX Runtime runs the graph, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionProvider {
    /// The CPU (always available; also the fallback after any other provider).
    Cpu,
    /// An NVIDIA GPU through CUDA. When the loaded library has no CUDA provider (the plain
    /// `onnxruntime` wheel) or no GPU is present, ONNX Runtime falls back to the CPU.
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
}

/// ONNX Runtime graph optimisation levels (`GraphOptimizationLevel` in its C API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizationLevel {
    /// No graph rewrites.
    Disable,
    /// Semantics-preserving rewrites that apply to every provider (constant folding, ...).
    Basic,
    /// Plus fusions for specific providers.
    Extended,
    /// Everything, including layout changes (ONNX Runtime's default).
    #[default]
    All,
}

/// Options of every session the handler creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Threads used inside one operator (`None`: ONNX Runtime's default, one per core).
    pub intra_threads: Option<usize>,
    /// Threads used to run independent operators in parallel (`None`: ONNX Runtime's default).
    pub inter_threads: Option<usize>,
    /// Graph optimisation level.
    pub optimization: OptimizationLevel,
    /// Execution providers in order of preference; the CPU is always the last resort.
    pub execution_providers: Vec<ExecutionProvider>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            intra_threads: None,
            inter_threads: None,
            optimization: OptimizationLevel::All,
            execution_providers: vec![ExecutionProvider::Cpu],
        }
    }
}

/// One input or output of the model: name, element type and dimensions (`None` for a dynamic
/// dimension such as `batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The graph's name for it.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, axis 0 first; `None` where the model leaves the size open.
    pub dims: Vec<Option<usize>>,
}

impl TensorSpec {
    /// The per-example dimensions (without axis 0), rendered like `[12]` or `[?, 3]`.
    pub fn example_dims_text(&self) -> String {
        let dims: Vec<String> = self
            .dims
            .get(1..)
            .unwrap_or(&[])
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// How the model takes a batch: along a dynamic axis 0, or one example at a time when the
/// exporter fixed axis 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAxis {
    /// Axis 0 of every input and output is dynamic: examples are stacked along it.
    Dynamic,
    /// Axis 0 is fixed to 1: examples run one at a time.
    FixedOne,
}

/// The model's inputs and outputs as its metadata declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Inputs in graph order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs in graph order.
    pub outputs: Vec<TensorSpec>,
    /// How batches are formed.
    pub batch_axis: BatchAxis,
}

impl Signature {
    /// Reads the signature from a session; fails (naming the input or output) for non-tensor
    /// values, unsupported element types, or a model without a batch axis.
    pub fn of(session: &Session) -> Result<Signature, OnnxError> {
        let inputs = session
            .inputs()
            .iter()
            .map(spec)
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = session
            .outputs()
            .iter()
            .map(spec)
            .collect::<Result<Vec<_>, _>>()?;
        let mut batch_axis = None;
        for s in inputs.iter().chain(&outputs) {
            let axis = match s.dims.first() {
                Some(None) => BatchAxis::Dynamic,
                Some(Some(1)) => BatchAxis::FixedOne,
                Some(Some(n)) => return Err(no_batch_axis(s, &format!("axis 0 is fixed to {n}"))),
                None => return Err(no_batch_axis(s, "it is a scalar")),
            };
            match batch_axis {
                None => batch_axis = Some(axis),
                Some(seen) if seen != axis => {
                    return Err(no_batch_axis(
                        s,
                        "axis 0 is dynamic on some inputs/outputs and fixed on others",
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(Signature {
            inputs,
            outputs,
            batch_axis: batch_axis.unwrap_or(BatchAxis::Dynamic),
        })
    }

    /// The input names, in graph order.
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|s| s.name.clone()).collect()
    }
}

fn no_batch_axis(spec: &TensorSpec, why: &str) -> OnnxError {
    OnnxError::Unsupported {
        name: spec.name.clone(),
        reason: format!(
            "the handler batches along axis 0, which must be dynamic or 1, but {why} (dims {:?})",
            spec.dims
        ),
    }
}

fn spec(outlet: &Outlet) -> Result<TensorSpec, OnnxError> {
    let name = outlet.name().to_string();
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(OnnxError::Unsupported {
            name,
            reason: format!("only tensors are served, this is {:?}", outlet.dtype()),
        });
    };
    let dtype = match ty {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Bool => DType::Bool,
        other => {
            return Err(OnnxError::Unsupported {
                name,
                reason: format!("element type {other:?} is not served"),
            })
        }
    };
    let dims = shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    Ok(TensorSpec { name, dtype, dims })
}

/// Opens `model` with `config` in `env`.
pub(crate) fn open(
    env: &ort::environment::Environment,
    model: &Path,
    config: &SessionConfig,
) -> Result<Session, OnnxError> {
    if !model.exists() {
        return Err(OnnxError::ModelNotFound {
            path: model.to_path_buf(),
        });
    }
    let builder_err = |what: &'static str| {
        move |e: ort::Error<ort::session::builder::SessionBuilder>| OnnxError::Runtime {
            context: format!("setting {what}"),
            source: e.into(),
        }
    };
    let mut builder =
        Session::builder(env).map_err(OnnxError::runtime("creating a session builder"))?;
    builder = builder
        .with_optimization_level(match config.optimization {
            OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        })
        .map_err(builder_err("the optimisation level"))?;
    if let Some(n) = config.intra_threads {
        builder = builder
            .with_intra_threads(n)
            .map_err(builder_err("intra-op threads"))?;
    }
    if let Some(n) = config.inter_threads {
        builder = builder
            .with_inter_threads(n)
            .map_err(builder_err("inter-op threads"))?;
    }
    let providers: Vec<_> = config
        .execution_providers
        .iter()
        .map(|p| match p {
            ExecutionProvider::Cpu => ort::ep::CPU::default().build(),
            ExecutionProvider::Cuda { device_id } => {
                ort::ep::CUDA::default().with_device_id(*device_id).build()
            }
        })
        .collect();
    builder = builder
        .with_execution_providers(providers)
        .map_err(builder_err("execution providers"))?;
    builder
        .commit_from_file(model)
        .map_err(OnnxError::runtime(format!(
            "loading the model `{}`",
            model.display()
        )))
}
