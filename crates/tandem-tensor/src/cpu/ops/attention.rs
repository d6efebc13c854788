//! Fused scaled-dot-product attention, blocked over queries.
//!
//! For each (batch, head) and each block of `BLOCK` queries, the scores `Q_blk·Kᵀ` are computed
//! into a `BLOCK × kv_len` scratch with a SIMD GEMM, masked and soft-maxed in place, and
//! multiplied by `V` straight into the output. Only one block of scores per thread exists at a
//! time; the full `q_len × kv_len` matrix is never materialised. Strided q/k/v views (a KV cache
//! narrowed to its filled length, heads permuted out of `[b, l, h, d]`) are read in place when
//! they are f32. Half-precision operands are widened one head at a time, and only the rows the
//! view addresses: widening whole storages cost a decoder step a copy of every image's
//! cross-attention keys and values per layer (and the fused QKV output three times over), in
//! fresh pages, about 7% of a bf16 `tandem caption` run. Where the CPU has AVX512-BF16, bf16
//! scores `Q·Kᵀ` skip even that: the skinny `VDPBF16PS` kernel dots the stored rows.

use super::copy::row_offsets;
use super::matmul_skinny;
use super::softmax::softmax_row;
use crate::cpu::storage::{bf16_to_f32, CpuStorage};
use crate::layout::Layout;
use crate::op::AttentionSpec;
use crate::{Error, Result};
use gemm::Parallelism;
use half::bf16;
use rayon::prelude::*;
use std::borrow::Cow;

const BLOCK: usize = 32;

pub struct Operand<'a> {
    pub storage: &'a CpuStorage,
    pub layout: &'a Layout,
}

fn in_bounds(name: &str, storage: &CpuStorage, layout: &Layout) -> Result<()> {
    match layout.max_storage_index() {
        Some(i) if i >= storage.len() => Err(Error::invalid(
            "attention",
            format!("{name} addresses past the end of its storage"),
        )),
        _ => Ok(()),
    }
}

/// `rows` rows of `cols` contiguous elements of one head, row `j` at `base + j·row_stride` of
/// its storage, readable as f32: f32 storage in place, any other dtype widened into a
/// contiguous `rows × cols` copy.
struct HeadRows<'a> {
    data: Cow<'a, [f32]>,
    offset: usize,
    stride: usize,
}

impl<'a> HeadRows<'a> {
    /// # Panics
    /// If a row runs past the storage (`attention` checks the layouts first).
    fn new(
        storage: &'a CpuStorage,
        base: usize,
        rows: usize,
        row_stride: usize,
        cols: usize,
    ) -> Self {
        let at = (base, rows, row_stride, cols);
        let data = match storage {
            CpuStorage::F32(v) => {
                return HeadRows {
                    data: Cow::Borrowed(v),
                    offset: base,
                    stride: row_stride,
                }
            }
            CpuStorage::BF16(v) => widen(v, at, bf16_to_f32),
            CpuStorage::F16(v) => widen(v, at, |x| x.to_f32()),
            CpuStorage::U32(v) => widen(v, at, |x| x as f32),
            CpuStorage::I64(v) => widen(v, at, |x| x as f32),
        };
        HeadRows {
            data: Cow::Owned(data),
            offset: 0,
            stride: cols,
        }
    }

    /// Row `j`'s first element (only computed, not read: with no keys, a row past the end).
    fn row(&self, j: usize) -> *const f32 {
        self.data
            .as_ptr()
            .wrapping_add(self.offset + j * self.stride)
    }
}

/// Rows `base + j·row_stride .. + cols` (`j < rows`) of `v`, each element through `to_f32`,
/// as one contiguous `rows × cols` vector.
fn widen<T: Copy>(
    v: &[T],
    (base, rows, row_stride, cols): (usize, usize, usize, usize),
    to_f32: impl Fn(T) -> f32,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    for j in 0..rows {
        out.extend(
            v[base + j * row_stride..][..cols]
                .iter()
                .map(|&x| to_f32(x)),
        );
    }
    out
}

pub fn attention(
    q: Operand,
    k: Operand,
    v: Operand,
    mask: Option<Operand>,
    spec: AttentionSpec,
) -> Result<CpuStorage> {
    in_bounds("q", q.storage, q.layout)?;
    in_bounds("k", k.storage, k.layout)?;
    in_bounds("v", v.storage, v.layout)?;
    let [b, h, lq, d] = <[usize; 4]>::try_from(q.layout.dims())
        .map_err(|_| Error::invalid("attention", "q must be rank 4"))?;
    let (lk, dv) = (k.layout.dims()[2], v.layout.dims()[3]);
    let (qs, ks, vs) = (q.layout.strides(), k.layout.strides(), v.layout.strides());
    let mask = mask.map(|m| (m.storage.as_f32(), row_offsets(m.layout)));
    let mut out = vec![0f32; b * h * lq * dv];
    if out.is_empty() {
        return Ok(CpuStorage::from_f32(out, q.storage.dtype()));
    }
    // bf16 q and k: the scores as exact products of the stored values, accumulated in f32
    // (the same as widening both first, up to summation order and the instruction's DAZ),
    // without a widened copy of every key of the head: at a decoder step (10 queries per
    // image against 577 image tokens) the copy cost more than the products.
    let pairs = match (q.storage, k.storage) {
        (CpuStorage::BF16(qv), CpuStorage::BF16(kv)) => {
            matmul_skinny::bf16_pairs_kernel().map(|dots| (dots, qv, kv))
        }
        _ => None,
    };
    out.par_chunks_mut(lq * dv)
        .enumerate()
        .for_each(|(bh, head_out)| {
            let (bi, hi) = (bh / h, bh % h);
            let q0 = q.layout.offset() + bi * qs[0] + hi * qs[1];
            let k0 = k.layout.offset() + bi * ks[0] + hi * ks[1];
            let v0 = v.layout.offset() + bi * vs[0] + hi * vs[1];
            // With bf16 q and k on AVX512-BF16, Q·Kᵀ reads both as stored (below).
            let widened = pairs.is_none().then(|| {
                (
                    HeadRows::new(q.storage, q0, lq, qs[2], d),
                    HeadRows::new(k.storage, k0, lk, ks[2], d),
                )
            });
            let vh = HeadRows::new(v.storage, v0, lk, vs[2], dv);
            head_out
                .par_chunks_mut(BLOCK * dv)
                .enumerate()
                .for_each(|(blk, o)| {
                    let r0 = blk * BLOCK;
                    let rows = o.len() / dv.max(1);
                    let mut scores = vec![0f32; rows * lk];
                    match (&pairs, &widened) {
                        (Some((dots, qv, kv)), _) if lk > 0 => {
                            let q_rows: Vec<&[bf16]> = (r0..r0 + rows)
                                .map(|i| &qv[q0 + i * qs[2]..][..d])
                                .collect();
                            let k_rows: Vec<&[bf16]> =
                                (0..lk).map(|j| &kv[k0 + j * ks[2]..][..d]).collect();
                            // Column-major (`lk × rows`), as the skinny kernels write.
                            let mut t = vec![0f32; lk * rows];
                            dots(&q_rows, &k_rows, &mut t);
                            for (i, row) in scores.chunks_mut(lk).enumerate() {
                                for (j, s) in row.iter_mut().enumerate() {
                                    *s = spec.scale * t[j * rows + i];
                                }
                            }
                        }
                        (_, Some((qh, kh))) => {
                            // SAFETY: every addressed element lies within q/k/v (checked
                            // above via max_storage_index; a widened head holds exactly the
                            // rows addressed); `scores` is exactly rows×lk.
                            unsafe {
                                gemm::gemm(
                                    rows,
                                    lk,
                                    d,
                                    scores.as_mut_ptr(),
                                    1,
                                    lk as isize,
                                    false,
                                    qh.row(r0),
                                    1,
                                    qh.stride as isize,
                                    kh.row(0),
                                    kh.stride as isize,
                                    1,
                                    0.0,
                                    spec.scale,
                                    false,
                                    false,
                                    false,
                                    Parallelism::None,
                                );
                            }
                        }
                        // No keys: no scores.
                        _ => {}
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
                    // SAFETY: as above; `o` is exactly rows×dv.
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
                            vh.row(0),
                            1,
                            vh.stride as isize,
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
