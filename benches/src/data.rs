//! Deterministic input tensors for benchmarks (a fixed-seed generator, so runs are comparable
//! and no `rand` dependency is needed).

use tandem_tensor::{Backend, Result, Tensor};

/// A xorshift64* stream of floats in `[-1, 1)`. Values do not matter for speed, but they must be
/// finite and varied (all-zero inputs can hit fast paths, e.g. denormal-free or sparse ones).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.next_f32()).collect()
    }
}

/// An f32 tensor of `dims` filled with values in `[-scale, scale)` from `seed`.
pub fn random<B: Backend>(backend: &B, dims: &[usize], scale: f32, seed: u64) -> Result<Tensor<B>> {
    let len = dims.iter().product();
    let mut rng = Rng::new(seed);
    let data: Vec<f32> = rng.vec(len).into_iter().map(|x| x * scale).collect();
    Tensor::from_slice(backend, &data, dims)
}

/// `count` token ids in `0..vocab` (U32), as a tokenizer would produce.
pub fn token_ids<B: Backend>(
    backend: &B,
    count: usize,
    vocab: usize,
    seed: u64,
) -> Result<Tensor<B>> {
    let mut rng = Rng::new(seed);
    let ids: Vec<u32> = (0..count)
        .map(|_| (rng.next_u64() % vocab.max(1) as u64) as u32)
        .collect();
    Tensor::from_slice(backend, &ids, &[count])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_stay_in_range_and_vary() {
        let v = Rng::new(7).vec(10_000);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        let distinct = v.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(distinct > 9_900);
    }
}
