//! Per-sequence random streams.
//!
//! Each caption draws from its own stream, identified by (seed, image key, sequence index),
//! so a caption depends only on its own request and never on what else shared the batch, how
//! many images were batched, or which sequences finished first.
//!
//! ChaCha (`rand_chacha`) is used because it is counter-based: the key (from the seed and
//! the image key) and the stream number (the sequence index) fully define the output, streams
//! are independent by construction, creating one costs nothing, and the output is specified
//! and portable across platforms and crate releases (unlike `StdRng` or `DefaultHasher`,
//! whose algorithms may change). Eight rounds are plenty for sampling.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// FNV-1a, 64 bits: a stable hash of the image key (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The random stream of one sequence.
#[derive(Clone, Debug)]
pub struct SequenceRng(ChaCha8Rng);

impl SequenceRng {
    pub fn new(seed: u64, image_key: &str, sequence: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&fnv1a(image_key.as_bytes()).to_le_bytes());
        key[16..24].copy_from_slice(&(image_key.len() as u64).to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(sequence);
        SequenceRng(rng)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::SequenceRng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, key: &str, seq| -> Vec<f64> {
            let mut r = SequenceRng::new(seed, key, seq);
            (0..4).map(|_| r.uniform()).collect()
        };
        assert_eq!(draw(1, "a.png", 0), draw(1, "a.png", 0));
        assert_ne!(draw(1, "a.png", 0), draw(1, "a.png", 1));
        assert_ne!(draw(1, "a.png", 0), draw(1, "b.png", 0));
        assert_ne!(draw(1, "a.png", 0), draw(2, "a.png", 0));
        assert!(draw(7, "k", 3).iter().all(|u| (0.0..1.0).contains(u)));
    }

    /// The streams are specified (ChaCha8 keyed by seed, FNV-1a of the key and its length;
    /// stream = sequence index), so their draws are pinned: the same on every platform and
    /// every release. Recorded once from this implementation; never update them to make a
    /// change pass.
    #[test]
    fn golden_draws_are_pinned() {
        let bits = |seed, key: &str, seq| -> Vec<u64> {
            let mut r = SequenceRng::new(seed, key, seq);
            (0..3).map(|_| r.uniform().to_bits()).collect()
        };
        let got = [
            bits(7, "chelsea.png", 0),
            bits(7, "chelsea.png", 1),
            bits(0, "", 0),
        ];
        assert_eq!(got, GOLDEN);
    }

    const GOLDEN: [[u64; 3]; 3] = [
        [
            4607070957198123353,
            4599616715209445550,
            4600173470568579792,
        ],
        [
            4593971709619569724,
            4604548790753038324,
            4605785003200765248,
        ],
        [
            4589988704381214072,
            4605202177097563323,
            4602253497646460338,
        ],
    ];
}
