//! Fused scaled-dot-product attention, blocked over queries.
//!
//! For each (batch, head) and each block of `BLOCK` queries, the scores `Q_blk·Kᵀ` are computed
//! into a `BLOCK × kv_len` scratch with a SIMD GEMM, masked and soft-maxed in place, and
//! multiplied by `V` straight into the output. Only one block of scores per thread exists at a
//! time; the full `q_len × kv_len` matrix is never materialised. Strided q/k/v views (a KV cache
//! narrowed to its filled length, heads permuted out of `[b, l, h, d]`) are read in place.

use super::copy::row_offsets;
use super::softmax::softmax_row;
use crate::cpu::storage::CpuStorage;
use crate::layout::Layout;
use crate::op::AttentionSpec;
use crate::{Error, Result};
use gemm::Parallelism;
use rayon::prelude::*;

const BLOCK: usize = 32;

pub struct Operand<'a> {
    pub storage: &'a CpuStorage,
    pub layout: &'a Layout,
}

fn in_bounds(name: &str, values: &[f32], layout: &Layout) -> Result<()> {
    match layout.max_storage_index() {
        Some(i) if i >= values.len() => Err(Error::invalid(
            "attention",
            format!("{name} addresses past the end of its storage"),
        )),
        _ => Ok(()),
    }
}

pub fn attention(
    q: Operand,
    k: Operand,
    v: Operand,
    mask: Option<Operand>,
    spec: AttentionSpec,
) -> Result<CpuStorage> {
    let (qa, ka, va) = (q.storage.as_f32(), k.storage.as_f32(), v.storage.as_f32());
    in_bounds("q", &qa, q.layout)?;
    in_bounds("k", &ka, k.layout)?;
    in_bounds("v", &va, v.layout)?;
    let [b, h, lq, d] = <[usize; 4]>::try_from(q.layout.dims())
        .map_err(|_| Error::invalid("attention", "q must be rank 4"))?;
    let (lk, dv) = (k.layout.dims()[2], v.layout.dims()[3]);
    let (qs, ks, vs) = (q.layout.strides(), k.layout.strides(), v.layout.strides());
    let mask = mask.map(|m| (m.storage.as_f32(), row_offsets(m.layout)));
    let mut out = vec![0f32; b * h * lq * dv];
    if out.is_empty() {
        return Ok(CpuStorage::from_f32(out, q.storage.dtype()));
    }
    out.par_chunks_mut(lq * dv)
        .enumerate()
        .for_each(|(bh, head_out)| {
            let (bi, hi) = (bh / h, bh % h);
            let q0 = q.layout.offset() + bi * qs[0] + hi * qs[1];
            let k0 = k.layout.offset() + bi * ks[0] + hi * ks[1];
            let v0 = v.layout.offset() + bi * vs[0] + hi * vs[1];
            head_out
                .par_chunks_mut(BLOCK * dv)
                .enumerate()
                .for_each(|(blk, o)| {
                    let r0 = blk * BLOCK;
                    let rows = o.len() / dv.max(1);
                    let mut scores = vec![0f32; rows * lk];
                    // SAFETY: every addressed element lies within q/k/v (checked above via
                    // max_storage_index); `scores` and `o` are exactly rows×lk and rows×dv.
                    unsafe {
                        gemm::gemm(
                            rows,
                            lk,
                            d,
                            scores.as_mut_ptr(),
                            1,
                            lk as isize,
                            false,
                            qa.as_ptr().add(q0 + r0 * qs[2]),
                            1,
                            qs[2] as isize,
                            ka.as_ptr().add(k0),
                            ks[2] as isize,
                            1,
                            0.0,
                            spec.scale,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                    for (i, row) in scores.chunks_mut(lk).enumerate() {
                        let qi = r0 + i;
                        if let Some((m, (offsets, _, stride))) = &mask {
                            let start = offsets[bh * lq + qi];
                            row.iter_mut()
                                .enumerate()
                                .for_each(|(j, x)| *x += m[start + j * stride]);
                        }
                        if spec.causal {
                            row[lk - lq + qi + 1..]
                                .iter_mut()
                                .for_each(|x| *x = f32::NEG_INFINITY);
                        }
                        softmax_row(row);
                    }
                    // SAFETY: as above.
                    unsafe {
                        gemm::gemm(
                            rows,
                            dv,
                            lk,
                            o.as_mut_ptr(),
                            1,
                            dv as isize,
                            false,
                            scores.as_ptr(),
                            1,
                            lk as isize,
                            va.as_ptr().add(v0),
                            1,
                            vs[2] as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                });
        });
    Ok(CpuStorage::from_f32(out, q.storage.dtype()))
}
