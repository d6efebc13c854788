//! Error paths: mismatched shapes, dtypes, ranks, out-of-range dims and ids must come back as
//! `Err`, never as a panic or a wrong answer.

use crate::input::upload;
use crate::run_problem;
use proptest::prelude::*;
use tandem_tensor::{attention, AttentionSpec, Backend, DType, Result, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    BinaryShapes,
    BinaryDTypes,
    BinaryInts,
    UnaryInts,
    MatmulInner,
    MatmulRank1,
    MatmulDTypes,
    MatmulBatch,
    MatmulBiasLen,
    MatmulBiasDType,
    LinearWeight,
    SoftmaxMask,
    SoftmaxMaskDType,
    SoftmaxCausalTooManyQueries,
    SoftmaxScalar,
    LayerNormGamma,
    LayerNormDType,
    AddLayerNormResidual,
    AddLayerNormResidualDType,
    AddLayerNormGamma,
    AttentionRank,
    AttentionHeads,
    AttentionKvLen,
    AttentionCausal,
    AttentionMask,
    AttentionDType,
    IndexOutOfRange,
    IndexNegative,
    IndexFloatIds,
    IndexIdsRank2,
    IndexDim,
    EmbeddingRank,
    CatShapes,
    CatDTypes,
    CatEmpty,
    CatDim,
    CatRank,
    TopkZero,
    TopkTooMany,
    ReduceInts,
    ReduceEmptyRow,
    PatchIndivisible,
    PatchChannels,
    ReshapeCount,
    NarrowRange,
    NarrowOverflow,
    PermuteInvalid,
    TransposeDim,
    BroadcastIncompatible,
    SqueezeNotOne,
    UnsqueezeDim,
    FromSliceLength,
    ToVecDType,
    ToScalarMany,
    FromSliceHugeDims,
    FullHugeDims,
    ReshapeHugeDims,
}

const CASES: [Case; 57] = [
    Case::BinaryShapes,
    Case::BinaryDTypes,
    Case::BinaryInts,
    Case::UnaryInts,
    Case::MatmulInner,
    Case::MatmulRank1,
    Case::MatmulDTypes,
    Case::MatmulBatch,
    Case::MatmulBiasLen,
    Case::MatmulBiasDType,
    Case::LinearWeight,
    Case::SoftmaxMask,
    Case::SoftmaxMaskDType,
    Case::SoftmaxCausalTooManyQueries,
    Case::SoftmaxScalar,
    Case::LayerNormGamma,
    Case::LayerNormDType,
    Case::AddLayerNormResidual,
    Case::AddLayerNormResidualDType,
    Case::AddLayerNormGamma,
    Case::AttentionRank,
    Case::AttentionHeads,
    Case::AttentionKvLen,
    Case::AttentionCausal,
    Case::AttentionMask,
    Case::AttentionDType,
    Case::IndexOutOfRange,
    Case::IndexNegative,
    Case::IndexFloatIds,
    Case::IndexIdsRank2,
    Case::IndexDim,
    Case::EmbeddingRank,
    Case::CatShapes,
    Case::CatDTypes,
    Case::CatEmpty,
    Case::CatDim,
    Case::CatRank,
    Case::TopkZero,
    Case::TopkTooMany,
    Case::ReduceInts,
    Case::ReduceEmptyRow,
    Case::PatchIndivisible,
    Case::PatchChannels,
    Case::ReshapeCount,
    Case::NarrowRange,
    Case::NarrowOverflow,
    Case::PermuteInvalid,
    Case::TransposeDim,
    Case::BroadcastIncompatible,
    Case::SqueezeNotOne,
    Case::UnsqueezeDim,
    Case::FromSliceLength,
    Case::ToVecDType,
    Case::ToScalarMany,
    Case::FromSliceHugeDims,
    Case::FullHugeDims,
    Case::ReshapeHugeDims,
];

#[derive(Clone, Debug)]
pub struct Problem {
    pub case: Case,
    pub dtype: DType,
    /// Sizes used to build the operands (each ≥ 2 so "one more" and "one less" stay valid).
    pub m: usize,
    pub n: usize,
}

pub fn strategy() -> BoxedStrategy<Problem> {
    let dtype = proptest::sample::select(DType::FLOATS.to_vec());
    (
        proptest::sample::select(CASES.to_vec()),
        dtype,
        2usize..6,
        2usize..6,
    )
        .prop_map(|(case, dtype, m, n)| Problem { case, dtype, m, n })
        .boxed()
}

fn other_float(d: DType) -> DType {
    if d == DType::F32 {
        DType::F16
    } else {
        DType::F32
    }
}

/// Runs the case; `Ok(Ok(()))` would mean the op accepted invalid input.
fn attempt<B: Backend>(b: &B, p: &Problem) -> Result<Result<()>> {
    let (m, n, dt) = (p.m, p.n, p.dtype);
    let t = |dims: &[usize], dtype: DType| -> Result<Tensor<B>> {
        let len = dims.iter().product::<usize>();
        upload(
            b,
            &(0..len).map(|i| (i % 7) as f32).collect::<Vec<_>>(),
            dims,
            dtype,
        )
    };
    let x = t(&[m, n], dt)?;
    let spec = AttentionSpec {
        scale: 1.0,
        causal: false,
    };
    let r: Result<()> = match p.case {
        Case::BinaryShapes => x.add(&t(&[m, n + 1], dt)?).map(drop),
        Case::BinaryDTypes => x.mul(&t(&[m, n], other_float(dt))?).map(drop),
        Case::BinaryInts => t(&[m, n], DType::U32)?
            .add(&t(&[m, n], DType::U32)?)
            .map(drop),
        Case::UnaryInts => t(&[m], DType::I64)?.exp().map(drop),
        Case::MatmulInner => x.matmul(&t(&[n + 1, m], dt)?).map(drop),
        Case::MatmulRank1 => x.matmul(&t(&[n], dt)?).map(drop),
        Case::MatmulDTypes => x.matmul(&t(&[n, m], other_float(dt))?).map(drop),
        Case::MatmulBatch => t(&[2, m, n], dt)?.matmul(&t(&[3, n, m], dt)?).map(drop),
        Case::MatmulBiasLen => x
            .matmul_fused(&t(&[n, m], dt)?, Some(&t(&[m + 1], dt)?), None)
            .map(drop),
        Case::MatmulBiasDType => x
            .matmul_fused(&t(&[n, m], dt)?, Some(&t(&[m], other_float(dt))?), None)
            .map(drop),
        Case::LinearWeight => x.linear(&t(&[m, n + 1], dt)?, None, None).map(drop),
        Case::SoftmaxMask => x.softmax(Some(&t(&[m + 1, n], dt)?), false).map(drop),
        Case::SoftmaxMaskDType => x
            .softmax(Some(&t(&[m, n], other_float(dt))?), false)
            .map(drop),
        Case::SoftmaxCausalTooManyQueries => t(&[n + 1, n], dt)?.softmax(None, true).map(drop),
        Case::SoftmaxScalar => t(&[], dt)?.softmax(None, false).map(drop),
        Case::LayerNormGamma => x
            .layer_norm(&t(&[n + 1], dt)?, &t(&[n], dt)?, 1e-5)
            .map(drop),
        Case::LayerNormDType => x
            .layer_norm(&t(&[n], other_float(dt))?, &t(&[n], dt)?, 1e-5)
            .map(drop),
        // The residual stream never broadcasts: a `[1, n]` residual is a shape error.
        Case::AddLayerNormResidual => x
            .add_layer_norm(&t(&[1, n], dt)?, &t(&[n], dt)?, &t(&[n], dt)?, 1e-5)
            .map(drop),
        Case::AddLayerNormResidualDType => x
            .add_layer_norm(
                &t(&[m, n], other_float(dt))?,
                &t(&[n], dt)?,
                &t(&[n], dt)?,
                1e-5,
            )
            .map(drop),
        Case::AddLayerNormGamma => x
            .add_layer_norm(&t(&[m, n], dt)?, &t(&[n], dt)?, &t(&[n + 1], dt)?, 1e-5)
            .map(drop),
        Case::AttentionRank => attention(
            &t(&[1, m, n], dt)?,
            &t(&[1, m, n], dt)?,
            &t(&[1, m, n], dt)?,
            None,
            spec,
        )
        .map(drop),
        Case::AttentionHeads => attention(
            &t(&[1, 2, m, n], dt)?,
            &t(&[1, 3, m, n], dt)?,
            &t(&[1, 3, m, n], dt)?,
            None,
            spec,
        )
        .map(drop),
        Case::AttentionKvLen => attention(
            &t(&[1, 1, m, n], dt)?,
            &t(&[1, 1, m, n], dt)?,
            &t(&[1, 1, m + 1, n], dt)?,
            None,
            spec,
        )
        .map(drop),
        Case::AttentionCausal => {
            let causal = AttentionSpec {
                scale: 1.0,
                causal: true,
            };
            attention(
                &t(&[1, 1, m + 1, n], dt)?,
                &t(&[1, 1, m, n], dt)?,
                &t(&[1, 1, m, n], dt)?,
                None,
                causal,
            )
            .map(drop)
        }
        Case::AttentionMask => {
            let q = t(&[1, 1, m, n], dt)?;
            attention(&q, &q, &q, Some(&t(&[m + 1, m], dt)?), spec).map(drop)
        }
        Case::AttentionDType => {
            let q = t(&[1, 1, m, n], dt)?;
            attention(&q, &t(&[1, 1, m, n], other_float(dt))?, &q, None, spec).map(drop)
        }
        Case::IndexOutOfRange => x
            .index_select(0, &t(&[2], DType::U32)?.affine_ids(m as i64)?)
            .map(drop),
        Case::IndexNegative => x
            .index_select(1, &Tensor::from_slice(b, &[0i64, -1], &[2])?)
            .map(drop),
        Case::IndexFloatIds => x.index_select(0, &t(&[1], dt)?).map(drop),
        Case::IndexIdsRank2 => x.index_select(0, &t(&[1, 1], DType::U32)?).map(drop),
        Case::IndexDim => x.index_select(2, &t(&[1], DType::U32)?).map(drop),
        Case::EmbeddingRank => t(&[2, m, n], dt)?
            .embedding(&t(&[1], DType::U32)?)
            .map(drop),
        Case::CatShapes => Tensor::cat(&[&x, &t(&[m + 1, n + 1], dt)?], 0).map(drop),
        Case::CatDTypes => Tensor::cat(&[&x, &t(&[m, n], other_float(dt))?], 0).map(drop),
        Case::CatEmpty => Tensor::<B>::cat(&[], 0).map(drop),
        Case::CatDim => Tensor::cat(&[&x, &x], 2).map(drop),
        Case::CatRank => Tensor::cat(&[&x, &t(&[m, n, 1], dt)?], 0).map(drop),
        Case::TopkZero => x.topk_last(0).map(drop),
        Case::TopkTooMany => x.topk_last(n + 1).map(drop),
        Case::ReduceInts => t(&[m, n], DType::U32)?.argmax_last().map(drop),
        Case::ReduceEmptyRow => t(&[m, 0], dt)?.sum_last().map(drop),
        Case::PatchIndivisible => t(&[1, 1, m * 2 + 1, m * 2], dt)?
            .patch_embed(&t(&[n, 1, 2, 2], dt)?, None)
            .map(drop),
        Case::PatchChannels => t(&[1, 2, 4, 4], dt)?
            .patch_embed(&t(&[n, 3, 2, 2], dt)?, None)
            .map(drop),
        Case::ReshapeCount => x.reshape(&[m * n + 1]).map(drop),
        Case::NarrowRange => x.narrow(1, n - 1, 2).map(drop),
        Case::NarrowOverflow => x.narrow(0, usize::MAX, 2).map(drop),
        Case::PermuteInvalid => x.permute(&[0, 0]).map(drop),
        Case::TransposeDim => x.transpose(0, 2).map(drop),
        Case::BroadcastIncompatible => x.broadcast_as(&[m, n + 1]).map(drop),
        Case::SqueezeNotOne => x.squeeze(0).map(drop),
        Case::UnsqueezeDim => x.unsqueeze(3).map(drop),
        Case::FromSliceLength => Tensor::from_slice(b, &vec![0f32; m * n + 1], &[m, n]).map(drop),
        Case::ToVecDType => x.to_vec::<u32>().map(drop),
        Case::ToScalarMany => x.to_scalar::<f32>().map(drop),
        // Element counts that overflow usize: an error, not an overflow panic or a wrapped count.
        Case::FromSliceHugeDims => Tensor::from_slice(b, &[0f32; 4], &[usize::MAX, m, 2]).map(drop),
        Case::FullHugeDims => Tensor::full(b, 0.0, &[usize::MAX, m], dt).map(drop),
        Case::ReshapeHugeDims => x.reshape(&[usize::MAX, 2, m]).map(drop),
    };
    Ok(r)
}

/// Index tensors with a chosen out-of-range value.
trait AffineIds: Sized {
    fn affine_ids(&self, value: i64) -> Result<Self>;
}

impl<B: Backend> AffineIds for Tensor<B> {
    fn affine_ids(&self, value: i64) -> Result<Self> {
        let ids = vec![0i64, value];
        Tensor::from_slice(self.backend(), &ids, &[2])
    }
}

pub fn check<B: Backend>(backend: &B, p: &Problem) -> std::result::Result<(), String> {
    match attempt(backend, p) {
        Err(e) => Err(format!(
            "{:?}: building the valid operands failed: {e}",
            p.case
        )),
        Ok(Ok(())) => Err(format!(
            "{:?}: invalid input was accepted (expected an Err)",
            p.case
        )),
        Ok(Err(_)) => Ok(()),
    }
}

pub fn run<B: Backend>(backend: &B, cases: u32) {
    run_problem("error_paths", backend, cases, strategy(), check);
}
