//! Shapes and strided layouts: how a tensor's logical indices map onto its storage.
//!
//! Views (reshape, narrow, transpose, permute, broadcast) only change the [`Layout`]; the storage
//! is shared. A stride of 0 means the dimension is broadcast.

use crate::{Error, Result};

/// Position of element `index` (row-major) in a layout with these dims/strides/offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    dims: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major strides of a contiguous tensor with these dims.
pub fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    strides
}

/// Collapses dims (for strided GPU kernels) that every operand walks contiguously (and drops size-1 dims), so strided
/// kernels see the smallest rank. `strides[o]` are operand `o`'s strides over `dims`.
pub fn merge_dims(dims: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for (i, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let mergeable = match out_dims.last() {
            Some(_) => strides
                .iter()
                .enumerate()
                .all(|(o, s)| out_strides[o].last() == Some(&(s[i] * d))),
            None => false,
        };
        if mergeable {
            let last = out_dims.len() - 1;
            out_dims[last] *= d;
            for (o, s) in strides.iter().enumerate() {
                out_strides[o][last] = s[i];
            }
        } else {
            out_dims.push(d);
            for (o, s) in strides.iter().enumerate() {
                out_strides[o].push(s[i]);
            }
        }
    }
    if out_dims.is_empty() {
        out_dims.push(1);
        out_strides.iter_mut().for_each(|s| s.push(0));
    }
    (out_dims, out_strides)
}

impl Layout {
    pub fn contiguous(dims: &[usize]) -> Self {
        Layout {
            dims: dims.to_vec(),
            strides: contiguous_strides(dims),
            offset: 0,
        }
    }

    /// A layout with explicit strides; `offset` is in elements. The caller promises that every
    /// addressed element lies inside the storage.
    pub fn new(dims: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        debug_assert_eq!(dims.len(), strides.len());
        Layout {
            dims,
            strides,
            offset,
        }
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.dims.len()
    }
    pub fn elem_count(&self) -> usize {
        self.dims.iter().product()
    }

    /// Row-major contiguous (possibly at a non-zero offset).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&d, &s) in self.dims.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// The largest storage index this layout addresses (`None` when it has no elements).
    pub fn max_storage_index(&self) -> Option<usize> {
        if self.elem_count() == 0 {
            return None;
        }
        Some(
            self.offset
                + self
                    .dims
                    .iter()
                    .zip(&self.strides)
                    .map(|(&d, &s)| (d - 1) * s)
                    .sum::<usize>(),
        )
    }

    /// Contiguous and starting at the beginning of its storage.
    pub fn is_contiguous_from_start(&self) -> bool {
        self.offset == 0 && self.is_contiguous()
    }

    /// Storage index of every element in row-major order (the slow, general path used by
    /// strided copies and references).
    pub fn storage_indices(&self) -> StridedIndex<'_> {
        StridedIndex::new(self)
    }

    pub(crate) fn resolve_dim(&self, op: &'static str, dim: usize) -> Result<usize> {
        if dim < self.rank() {
            Ok(dim)
        } else {
            Err(Error::DimOutOfRange {
                op,
                dim,
                rank: self.rank(),
            })
        }
    }

    /// View with new dims; only possible without a copy when the layout is contiguous.
    pub fn reshape(&self, dims: &[usize]) -> Result<Layout> {
        let new_count: usize = dims.iter().product();
        if new_count != self.elem_count() || !self.is_contiguous() {
            return Err(Error::ReshapeMismatch {
                from: self.dims.clone(),
                to: dims.to_vec(),
            });
        }
        let mut l = Layout::contiguous(dims);
        l.offset = self.offset;
        Ok(l)
    }

    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        let dim = self.resolve_dim("narrow", dim)?;
        let size = self.dims[dim];
        if start.checked_add(len).is_none_or(|end| end > size) {
            // `start + len` may overflow for user-supplied values: report it saturated, never panic.
            return Err(Error::IndexOutOfRange {
                op: "narrow",
                index: start.saturating_add(len),
                size,
            });
        }
        let mut l = self.clone();
        l.offset += start * self.strides[dim];
        l.dims[dim] = len;
        Ok(l)
    }

    pub fn permute(&self, order: &[usize]) -> Result<Layout> {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        if order.len() != rank {
            return Err(Error::invalid(
                "permute",
                format!("order {order:?} for rank {rank}"),
            ));
        }
        for &o in order {
            if o >= rank || seen[o] {
                return Err(Error::invalid(
                    "permute",
                    format!("order {order:?} is not a permutation of 0..{rank}"),
                ));
            }
            seen[o] = true;
        }
        Ok(Layout {
            dims: order.iter().map(|&o| self.dims[o]).collect(),
            strides: order.iter().map(|&o| self.strides[o]).collect(),
            offset: self.offset,
        })
    }

    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Layout> {
        let d0 = self.resolve_dim("transpose", d0)?;
        let d1 = self.resolve_dim("transpose", d1)?;
        let mut order: Vec<usize> = (0..self.rank()).collect();
        order.swap(d0, d1);
        self.permute(&order)
    }

    /// Broadcast to `dims` (numpy rules, aligned on the right) by setting strides to 0.
    pub fn broadcast_as(&self, dims: &[usize]) -> Result<Layout> {
        let err = || Error::ShapeMismatch {
            op: "broadcast",
            lhs: self.dims.clone(),
            rhs: dims.to_vec(),
        };
        if dims.len() < self.rank() {
            return Err(err());
        }
        let lead = dims.len() - self.rank();
        let mut strides = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate().skip(lead) {
            let (sd, ss) = (self.dims[i - lead], self.strides[i - lead]);
            strides[i] = if sd == d {
                ss
            } else if sd == 1 {
                0
            } else {
                return Err(err());
            };
        }
        Ok(Layout {
            dims: dims.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// The `[batch, rows, cols]` view of the last two dims, if the leading dims collapse to a
    /// single batch stride (or are all broadcast). Used by matmul to avoid copies.
    pub(crate) fn batched_matrix(&self) -> Option<(usize, usize)> {
        let r = self.rank();
        let lead = &self.dims[..r - 2];
        let lead_strides = &self.strides[..r - 2];
        let batch: usize = lead.iter().product();
        if batch <= 1 {
            return Some((batch, 0));
        }
        // A shortcut: the loop below gives the same answer for all-broadcast lead dims (every
        // non-unit stride is 0, so each "matches" 0·d). cargo-mutants: `||` → `&&` here is
        // equivalent, since with `batch > 1` some lead dim is not 1 and the loop takes over.
        if lead_strides
            .iter()
            .zip(lead)
            .all(|(&s, &d)| s == 0 || d == 1)
        {
            return Some((batch, 0));
        }
        // Collapse: stride of the innermost non-unit lead dim times the product must match.
        let mut stride = None;
        let mut expected = 0;
        for (&d, &s) in lead.iter().zip(lead_strides).rev() {
            if d == 1 {
                continue;
            }
            match stride {
                None => {
                    stride = Some(s);
                    expected = s * d;
                }
                Some(_) => {
                    if s != expected {
                        return None;
                    }
                    expected = s * d;
                }
            }
        }
        stride.map(|s| (batch, s))
    }
}

/// Iterator over storage indices in row-major order of the logical tensor.
pub struct StridedIndex<'a> {
    layout: &'a Layout,
    next: Option<usize>,
    counter: Vec<usize>,
}

impl<'a> StridedIndex<'a> {
    fn new(layout: &'a Layout) -> Self {
        let next = if layout.elem_count() == 0 {
            None
        } else {
            Some(layout.offset)
        };
        StridedIndex {
            layout,
            next,
            counter: vec![0; layout.rank()],
        }
    }
}

impl Iterator for StridedIndex<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        let mut idx = current;
        let mut advanced = false;
        for d in (0..self.layout.rank()).rev() {
            self.counter[d] += 1;
            if self.counter[d] < self.layout.dims[d] {
                idx += self.layout.strides[d];
                advanced = true;
                break;
            }
            idx -= (self.counter[d] - 1) * self.layout.strides[d];
            self.counter[d] = 0;
        }
        self.next = if advanced { Some(idx) } else { None };
        Some(current)
    }
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let l = if i + lhs.len() >= rank {
            lhs[i + lhs.len() - rank]
        } else {
            1
        };
        let r = if i + rhs.len() >= rank {
            rhs[i + rhs.len() - rank]
        } else {
            1
        };
        out[i] = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: lhs.to_vec(),
                    rhs: rhs.to_vec(),
                })
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
