//! Strided → contiguous copies (the `contiguous()` primitive, and a helper for other ops).

use crate::cpu::storage::{map_vec, CpuStorage};
use crate::layout::Layout;
use rayon::prelude::*;

/// Storage offsets of the first element of every last-dim row of `layout`, in row-major order,
/// plus the row length and the stride along the last dim.
pub fn row_offsets(layout: &Layout) -> (Vec<usize>, usize, usize) {
    let r = layout.rank();
    if r == 0 {
        return (vec![layout.offset()], 1, 1);
    }
    let lead = Layout::new(
        layout.dims()[..r - 1].to_vec(),
        layout.strides()[..r - 1].to_vec(),
        layout.offset(),
    );
    let offsets = if lead.elem_count() == 0 || layout.dims()[r - 1] == 0 {
        Vec::new()
    } else {
        lead.storage_indices().collect()
    };
    (offsets, layout.dims()[r - 1], layout.strides()[r - 1])
}

/// Copies the elements addressed by `layout` into a new contiguous vector.
pub fn gather<T: Copy + Send + Sync + Default>(src: &[T], layout: &Layout) -> Vec<T> {
    let n = layout.elem_count();
    if layout.is_contiguous() {
        return src[layout.offset()..layout.offset() + n].to_vec();
    }
    let (offsets, len, stride) = row_offsets(layout);
    let mut out = vec![T::default(); n];
    if len == 0 {
        return out;
    }
    let copy_row = |(dst, &start): (&mut [T], &usize)| {
        if stride == 1 {
            dst.copy_from_slice(&src[start..start + len]);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = src[start + j * stride];
            }
        }
    };
    if n >= super::PAR_THRESHOLD {
        out.par_chunks_mut(len)
            .zip(offsets.par_iter())
            .for_each(copy_row);
    } else {
        out.chunks_mut(len).zip(offsets.iter()).for_each(copy_row);
    }
    out
}

pub fn copy_strided(src: &CpuStorage, layout: &Layout) -> CpuStorage {
    map_vec!(src, v => gather(v, layout))
}

/// Writes contiguous `src` (row-major over `layout.dims()`) into the elements of `dst` that
/// `layout` addresses (the CPU side of `Backend::copy_into`). Rows are written one after another:
/// the writes are small (a KV-cache step) and `dst` rows need not be disjoint slices.
pub fn scatter<T: Copy>(src: &[T], dst: &mut [T], layout: &Layout) {
    let n = layout.elem_count();
    if layout.is_contiguous() {
        dst[layout.offset()..layout.offset() + n].copy_from_slice(&src[..n]);
        return;
    }
    let (offsets, len, stride) = row_offsets(layout);
    for (row, &start) in src.chunks(len.max(1)).zip(&offsets) {
        if stride == 1 {
            dst[start..start + len].copy_from_slice(row);
        } else {
            for (j, &x) in row.iter().enumerate() {
                dst[start + j * stride] = x;
            }
        }
    }
}

/// `Backend::copy_into` for CPU storage: `src` (any layout) into `dst` at `layout`.
pub fn copy_into(
    src: &CpuStorage,
    src_layout: &Layout,
    dst: &mut CpuStorage,
    layout: &Layout,
) -> crate::Result<()> {
    if layout.max_storage_index().is_some_and(|i| i >= dst.len()) {
        return Err(crate::Error::invalid(
            "copy_into",
            "destination layout addresses past the end of its storage",
        ));
    }
    let packed = copy_strided(src, src_layout);
    match (&packed, dst) {
        (CpuStorage::F32(s), CpuStorage::F32(d)) => scatter(s, d, layout),
        (CpuStorage::F16(s), CpuStorage::F16(d)) => scatter(s, d, layout),
        (CpuStorage::BF16(s), CpuStorage::BF16(d)) => scatter(s, d, layout),
        (CpuStorage::U32(s), CpuStorage::U32(d)) => scatter(s, d, layout),
        (CpuStorage::I64(s), CpuStorage::I64(d)) => scatter(s, d, layout),
        (s, d) => {
            return Err(crate::Error::DTypeMismatch {
                op: "copy_into",
                expected: d.dtype(),
                got: s.dtype(),
            })
        }
    }
    Ok(())
}
