use crate::op::ReduceOp;
use crate::{Backend, DType, Error, Result, Tensor};

impl<B: Backend> Tensor<B> {
    fn reduce(&self, op: ReduceOp, keepdim: bool) -> Result<Self> {
        self.check_float("reduce")?;
        let Some((&last, lead)) = self.dims().split_last() else {
            return Err(Error::RankMismatch {
                op: "reduce",
                expected: 1,
                shape: vec![],
            });
        };
        if last == 0 {
            return Err(Error::invalid(
                "reduce",
                format!("cannot reduce an empty last dim of {:?}", self.dims()),
            ));
        }
        let src = self.contiguous()?;
        let storage = self.backend().reduce_last(op, &src)?;
        let mut dims = lead.to_vec();
        if keepdim {
            dims.push(1);
        }
        let dtype = if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
            DType::U32
        } else {
            self.dtype()
        };
        Ok(Tensor::from_storage(
            storage,
            &dims,
            dtype,
            self.backend().clone(),
        ))
    }

    /// Sum over the last dim, dropping it.
    pub fn sum_last(&self) -> Result<Self> {
        self.reduce(ReduceOp::Sum, false)
    }
    /// Sum over the last dim, keeping it with size 1 (for broadcasting back).
    pub fn sum_keepdim(&self) -> Result<Self> {
        self.reduce(ReduceOp::Sum, true)
    }
    pub fn max_last(&self) -> Result<Self> {
        self.reduce(ReduceOp::Max, false)
    }
    pub fn max_keepdim(&self) -> Result<Self> {
        self.reduce(ReduceOp::Max, true)
    }
    pub fn min_last(&self) -> Result<Self> {
        self.reduce(ReduceOp::Min, false)
    }
    /// Index of the first maximum of each row (`U32`).
    pub fn argmax_last(&self) -> Result<Self> {
        self.reduce(ReduceOp::ArgMax, false)
    }
    pub fn argmin_last(&self) -> Result<Self> {
        self.reduce(ReduceOp::ArgMin, false)
    }

    /// The `k` largest values of each row and their `U32` indices, sorted descending.
    pub fn topk_last(&self, k: usize) -> Result<(Self, Self)> {
        self.check_float("topk")?;
        let Some((&last, lead)) = self.dims().split_last() else {
            return Err(Error::RankMismatch {
                op: "topk",
                expected: 1,
                shape: vec![],
            });
        };
        if k == 0 || k > last {
            return Err(Error::invalid(
                "topk",
                format!("k = {k} for a last dim of {last}"),
            ));
        }
        let src = self.contiguous()?;
        let (values, indices) = self.backend().topk_last(&src, k)?;
        let mut dims = lead.to_vec();
        dims.push(k);
        let b = self.backend().clone();
        Ok((
            Tensor::from_storage(values, &dims, self.dtype(), b.clone()),
            Tensor::from_storage(indices, &dims, DType::U32, b),
        ))
    }
}
