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
    let lead = Layout::new(layout.dims()[..r - 1].to_vec(), layout.strides()[..r - 1].to_vec(), layout.offset());
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
        out.par_chunks_mut(len).zip(offsets.par_iter()).for_each(copy_row);
    } else {
        out.chunks_mut(len).zip(offsets.iter()).for_each(copy_row);
    }
    out
}

pub fn copy_strided(src: &CpuStorage, layout: &Layout) -> CpuStorage {
    map_vec!(src, v => gather(v, layout))
}
