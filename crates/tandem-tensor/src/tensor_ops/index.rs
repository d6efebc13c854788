use crate::{Backend, DType, Error, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// Entries of `self` along `dim` picked by the 1-D `U32`/`I64` tensor `indices`
    /// (out-of-range indices are an error, checked on the host).
    pub fn index_select(&self, dim: usize, indices: &Self) -> Result<Self> {
        let op = "index_select";
        self.check_same_device(op, indices)?;
        let dim = self.layout().resolve_dim(op, dim)?;
        if !matches!(indices.dtype(), DType::U32 | DType::I64) {
            return Err(Error::UnsupportedDType {
                op,
                dtype: indices.dtype(),
            });
        }
        if indices.rank() != 1 {
            return Err(Error::RankMismatch {
                op,
                expected: 1,
                shape: indices.dims().to_vec(),
            });
        }
        let size = self.dims()[dim];
        // Ids usually come from the host (tokenizers) or a tiny argmax; checking them here keeps
        // an out-of-range token id from reading garbage on a GPU.
        let ids = indices.to_dtype(DType::I64)?.to_vec::<i64>()?;
        if let Some(&bad) = ids.iter().find(|&&i| i < 0 || i as usize >= size) {
            return Err(Error::IndexOutOfRange {
                op,
                index: bad.max(0) as usize,
                size,
            });
        }
        let storage =
            self.backend()
                .index_select(&self.contiguous()?, dim, &indices.contiguous()?)?;
        let mut dims = self.dims().to_vec();
        dims[dim] = indices.dims()[0];
        Ok(Tensor::from_storage(
            storage,
            &dims,
            self.dtype(),
            self.backend().clone(),
        ))
    }

    /// Embedding lookup: rows of `self` (`[vocab, d]`) for `ids` of any shape → `[ids…, d]`.
    pub fn embedding(&self, ids: &Self) -> Result<Self> {
        if self.rank() != 2 {
            return Err(Error::RankMismatch {
                op: "embedding",
                expected: 2,
                shape: self.dims().to_vec(),
            });
        }
        let rows = self.index_select(0, &ids.flatten_all()?)?;
        let mut dims = ids.dims().to_vec();
        dims.push(self.dims()[1]);
        rows.reshape(&dims)
    }

    /// Concatenation along `dim`; all tensors share dtype and every other dim.
    pub fn cat(tensors: &[&Self], dim: usize) -> Result<Self> {
        let op = "cat";
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid(op, "no tensors to concatenate"))?;
        let dim = first.layout().resolve_dim(op, dim)?;
        let mut dims = first.dims().to_vec();
        dims[dim] = 0;
        for t in tensors {
            first.check_same_device(op, t)?;
            first.check_same_dtype(op, t)?;
            let compatible = t.rank() == first.rank()
                && t.dims()
                    .iter()
                    .zip(first.dims())
                    .enumerate()
                    .all(|(i, (a, b))| i == dim || a == b);
            if !compatible {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: first.dims().to_vec(),
                    rhs: t.dims().to_vec(),
                });
            }
            dims[dim] += t.dims()[dim];
        }
        let storage = first.backend().concat(tensors, dim)?;
        Ok(Tensor::from_storage(
            storage,
            &dims,
            first.dtype(),
            first.backend().clone(),
        ))
    }
}
