use crate::layout::{broadcast_shapes, Layout};
use crate::op::{Activation, MatmulSpec, MatrixRef};
use crate::{Backend, Error, Result, Tensor};

/// Describes the last two dims of `layout` (already broadcast to the batch dims) as a
/// [`MatrixRef`], or `None` when a copy is needed first.
fn matrix_ref(layout: &Layout) -> Option<MatrixRef> {
    let (batch, batch_stride) = layout.batched_matrix()?;
    let r = layout.rank();
    let (rows, cols) = (layout.dims()[r - 2], layout.dims()[r - 1]);
    let (mut rs, mut cs) = (layout.strides()[r - 2], layout.strides()[r - 1]);
    // Size-1 dims may carry any stride; normalise them so one inner stride is 1.
    if cols == 1 && cs != 1 {
        cs = 1;
        rs = rs.max(1);
    }
    if rows == 1 && rs != 1 && cs != 1 {
        rs = 1;
    }
    if rows == 1 && cs == 1 {
        rs = rs.max(cols);
    }
    let row_major = cs == 1 && rs >= cols;
    let col_major = rs == 1 && cs >= rows;
    if !(row_major || col_major) {
        return None;
    }
    let _ = batch;
    Some(MatrixRef {
        offset: layout.offset(),
        batch_stride,
        row_stride: rs,
        col_stride: cs,
    })
}

/// A matrix view of `t` (broadcast to `dims`), copying `t` only when its strides cannot be
/// expressed with transpose flags and a single batch stride.
fn operand<B: Backend>(t: &Tensor<B>, dims: &[usize]) -> Result<(Tensor<B>, MatrixRef)> {
    let view = t.broadcast_as(dims)?;
    if let Some(m) = matrix_ref(view.layout()) {
        return Ok((view, m));
    }
    let owned = view.contiguous()?;
    let m = matrix_ref(owned.layout())
        .ok_or_else(|| Error::invalid("matmul", "contiguous operand without matrix layout"))?;
    Ok((owned, m))
}

impl<B: Backend> Tensor<B> {
    /// Matrix product with numpy batch broadcasting: `[..., m, k] · [..., k, n] → [..., m, n]`.
    /// Transposed views are passed to the kernel as flags, not copied.
    pub fn matmul(&self, rhs: &Self) -> Result<Self> {
        self.matmul_fused(rhs, None, None)
    }

    /// `act(self · rhs + bias)` in one kernel where the backend has one.
    pub fn matmul_fused(
        &self,
        rhs: &Self,
        bias: Option<&Self>,
        activation: Option<Activation>,
    ) -> Result<Self> {
        let op = "matmul";
        self.check_same_device(op, rhs)?;
        self.check_same_dtype(op, rhs)?;
        self.check_float(op)?;
        let mismatch = || Error::ShapeMismatch {
            op,
            lhs: self.dims().to_vec(),
            rhs: rhs.dims().to_vec(),
        };
        if self.rank() < 2 || rhs.rank() < 2 {
            return Err(mismatch());
        }
        let (ld, rd) = (self.dims(), rhs.dims());
        let (m, k) = (ld[ld.len() - 2], ld[ld.len() - 1]);
        let (k2, n) = (rd[rd.len() - 2], rd[rd.len() - 1]);
        if k != k2 {
            return Err(mismatch());
        }
        let batch_dims = broadcast_shapes(op, &ld[..ld.len() - 2], &rd[..rd.len() - 2])?;
        let batch: usize = batch_dims.iter().product();
        let with = |a: usize, b: usize| {
            let mut d = batch_dims.clone();
            d.extend([a, b]);
            d
        };
        let (lhs_t, lhs) = operand(self, &with(m, k))?;
        let (rhs_t, rhs_m) = operand(rhs, &with(k, n))?;
        let bias = self.bias_operand(op, "matmul bias", bias, n)?;
        let spec = MatmulSpec {
            batch,
            m,
            n,
            k,
            lhs,
            rhs: rhs_m,
        };
        let storage = self.backend().matmul_fused(
            lhs_t.storage(),
            rhs_t.storage(),
            self.dtype(),
            &spec,
            bias.as_ref(),
            activation,
        )?;
        Ok(Tensor::from_storage(
            storage,
            &with(m, n),
            self.dtype(),
            self.backend().clone(),
        ))
    }

    /// `bias` as the epilogue bias of a product with `n` columns: on `self`'s device, in its
    /// dtype, dims `[n]`; contiguous from its start, as backends read it. Errors name `op`, a
    /// shape error `bias_op`.
    pub(crate) fn bias_operand(
        &self,
        op: &'static str,
        bias_op: &'static str,
        bias: Option<&Self>,
        n: usize,
    ) -> Result<Option<Self>> {
        let Some(b) = bias else {
            return Ok(None);
        };
        self.check_same_device(op, b)?;
        self.check_same_dtype(op, b)?;
        if b.dims() != [n] {
            return Err(Error::ShapeMismatch {
                op: bias_op,
                lhs: vec![n],
                rhs: b.dims().to_vec(),
            });
        }
        Ok(Some(b.contiguous()?))
    }

    /// A Hugging Face / PyTorch `nn.Linear`: `act(x · weightᵀ + bias)` with `weight: [out, in]`
    /// and `x: [..., in]`. The weight is used in place (transpose flag), never copied.
    pub fn linear(
        &self,
        weight: &Self,
        bias: Option<&Self>,
        activation: Option<Activation>,
    ) -> Result<Self> {
        let Some((&inp, lead)) = self.dims().split_last() else {
            return Err(Error::RankMismatch {
                op: "linear",
                expected: 1,
                shape: vec![],
            });
        };
        if weight.rank() != 2 || weight.dims()[1] != inp {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: self.dims().to_vec(),
                rhs: weight.dims().to_vec(),
            });
        }
        let rows: usize = lead.iter().product();
        let out = weight.dims()[0];
        let y =
            self.reshape(&[rows, inp])?
                .matmul_fused(&weight.transpose(0, 1)?, bias, activation)?;
        let mut dims = lead.to_vec();
        dims.push(out);
        y.reshape(&dims)
    }
}
