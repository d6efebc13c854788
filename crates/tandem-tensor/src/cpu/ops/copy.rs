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
    if let Some(out) = gather_transposed(src, layout) {
        return out;
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

/// Side of the square tiles [`gather_transposed`] copies: a tile's 32 source and 32
/// destination lines stay in L1 while it is copied.
const TILE: usize = 32;

/// The copy of a view whose last two dims are swapped in storage (the second-to-last has
/// stride 1, the last a larger one: `W.transpose(0, 1).contiguous()`, as `Linear` does for
/// every f32 weight at load), in square tiles. Row by row, each output row would read one
/// element from each of `cols` source lines; on BLIP's and CLIP's weights that cost about 10 %
/// of a one-image f32 caption run. `None` for any other layout.
fn gather_transposed<T: Copy + Send + Sync + Default>(
    src: &[T],
    layout: &Layout,
) -> Option<Vec<T>> {
    let r = layout.rank();
    if r < 2 {
        return None;
    }
    let (dims, strides) = (layout.dims(), layout.strides());
    let (rows, cols) = (dims[r - 2], dims[r - 1]);
    let cs = strides[r - 1];
    if strides[r - 2] != 1 || cs <= 1 || rows < 2 || cols < 2 {
        return None;
    }
    let lead = Layout::new(
        dims[..r - 2].to_vec(),
        strides[..r - 2].to_vec(),
        layout.offset(),
    );
    let bases: Vec<usize> = lead.storage_indices().collect();
    let per = rows * cols;
    let mut out = vec![T::default(); bases.len() * per];
    // One task per band of TILE output rows: out[i][j] = src[base + i + j·cs].
    let band = |(t, dst): (usize, &mut [T]), base: usize| {
        let i0 = t * TILE;
        let height = dst.len() / cols;
        for j0 in (0..cols).step_by(TILE) {
            for j in j0..(j0 + TILE).min(cols) {
                let column = &src[base + j * cs + i0..][..height];
                for (i, &x) in column.iter().enumerate() {
                    dst[i * cols + j] = x;
                }
            }
        }
    };
    for (matrix, &base) in out.chunks_mut(per).zip(&bases) {
        if per >= super::PAR_THRESHOLD {
            matrix
                .par_chunks_mut(TILE * cols)
                .enumerate()
                .for_each(|b| band(b, base));
        } else {
            matrix
                .chunks_mut(TILE * cols)
                .enumerate()
                .for_each(|b| band(b, base));
        }
    }
    Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiled transpose against the element-by-element reading of the same layout: single
    /// and batched matrices, edges that are not multiples of the tile, an offset, padded
    /// source lines, a batch stride with a gap, and matrices large enough for the parallel path.
    #[test]
    fn transposed_views_copy_like_their_indices() {
        for &(batch, rows, cols) in &[
            (1, 2, 2),
            (1, 33, 70),
            (1, 100, 31),
            (3, 65, 40),
            (2, 7, 129),
            (2, 200, 100),
        ] {
            let (pad, offset) = (3, 5);
            let cs = rows + pad;
            let bs = cols * cs + 11;
            let src: Vec<u32> = (0..offset + batch * bs).map(|x| x as u32).collect();
            let layout = Layout::new(vec![batch, rows, cols], vec![bs, 1, cs], offset);
            let want: Vec<u32> = layout.storage_indices().map(|i| src[i]).collect();
            let got = gather_transposed(&src, &layout).expect("a transposed layout");
            assert_eq!(got, want, "{batch}x{rows}x{cols}");
            assert_eq!(gather(&src, &layout), want);
        }
        // Not a swap of the last two dims: the general path.
        let plain = Layout::new(vec![4, 6], vec![6, 1], 0);
        assert!(gather_transposed(&[0u32; 24], &plain).is_none());
    }
}
