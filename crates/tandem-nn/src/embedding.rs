//! `Embedding`: a lookup table `[vocab, dim]`.

use crate::error::Result;
use crate::weights::Weights;
use tandem_tensor::{Backend, Tensor};

#[derive(Clone, Debug)]
pub struct Embedding<B: Backend> {
    table: Tensor<B>,
}

impl<B: Backend> Embedding<B> {
    pub fn new(table: Tensor<B>) -> Self {
        Embedding { table }
    }

    /// Loads `weight` `[vocab, dim]`.
    pub fn load(w: &Weights<B>, vocab: usize, dim: usize) -> Result<Self> {
        Ok(Embedding {
            table: w.get("weight", &[vocab, dim])?,
        })
    }

    /// Rows for `ids` (`U32`/`I64`, any shape) → `[ids…, dim]`. Out-of-range ids are an error.
    pub fn forward(&self, ids: &Tensor<B>) -> Result<Tensor<B>> {
        Ok(self.table.embedding(ids)?)
    }

    /// The first `len` rows as a `[len, dim]` view (position embeddings for positions `0..len`),
    /// without a gather.
    pub fn first_rows(&self, len: usize) -> Result<Tensor<B>> {
        Ok(self.table.narrow(0, 0, len)?)
    }

    pub fn table(&self) -> &Tensor<B> {
        &self.table
    }
    pub fn vocab(&self) -> usize {
        self.table.dims()[0]
    }
    pub fn dim(&self) -> usize {
        self.table.dims()[1]
    }
}
