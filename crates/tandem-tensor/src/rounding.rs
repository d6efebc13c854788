//! f64 → f16/bf16 with one correct rounding (to nearest, ties to even).
//!
//! `half` 2.7's software `bf16::from_f64` (and `from_f64_const` for both types) misrounds values
//! just above a rounding tie (VoidStarKat/half-rs#151): it turned the integer 2 105 345 into
//! 2 097 152 instead of 2 113 536, and 704 of the integers below 2^24 came out one ulp low. Every
//! f64 → half conversion in Tandem goes through these two functions instead.
//!
//! The method is round-to-odd: narrow to f32 rounding toward zero and, when that was inexact,
//! set the last bit; a second rounding from f32 (24 significant bits) to f16 (11) or bf16 (8)
//! is then correct, because f32 carries more than two extra bits (Boldo & Melquiond, "When
//! double rounding is odd", 2005). `half`'s `from_f32` is exact-to-spec round-to-nearest-even.

use half::{bf16, f16};

/// `v` narrowed to f32 rounding to odd: truncated toward zero, with the last significand bit
/// set when the truncation dropped anything. NaN stays NaN; a value beyond `f32::MAX` becomes
/// `±f32::MAX` (odd), which a later rounding to f16/bf16 takes to infinity as it should.
fn f32_round_to_odd(v: f64) -> f32 {
    let nearest = v as f32;
    if v.is_nan() || nearest as f64 == v {
        return nearest;
    }
    let toward_zero = if (nearest as f64).abs() > v.abs() {
        f32::from_bits(nearest.to_bits() - 1)
    } else {
        nearest
    };
    f32::from_bits(toward_zero.to_bits() | 1)
}

/// `v` rounded once to the nearest f16 (ties to even), as PyTorch's `tensor.to(torch.float16)`
/// rounds a float64. Overflow gives ±inf, NaN stays NaN.
pub fn f16_from_f64(v: f64) -> f16 {
    f16::from_f32(f32_round_to_odd(v))
}

/// `v` rounded once to the nearest bf16 (ties to even), as PyTorch's `tensor.to(torch.bfloat16)`
/// rounds a float64. Overflow gives ±inf, NaN stays NaN.
pub fn bf16_from_f64(v: f64) -> bf16 {
    bf16::from_f32(f32_round_to_odd(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest of `r`'s neighbours to `v` is `r` itself (ties: `r` has an even significand).
    fn is_nearest(v: f64, r: f64, below: f64, above: f64, r_even: bool) -> bool {
        let d = (v - r).abs();
        let others = [(v - below).abs(), (v - above).abs()];
        others.iter().all(|&o| d < o || (d == o && r_even))
    }

    #[test]
    fn just_above_a_tie_rounds_up() {
        // half-rs#151's witness and the conformance suite's.
        assert_eq!(
            f16_from_f64(1.0 + 2f64.powi(-11) + 2f64.powi(-22)).to_bits(),
            0x3c01
        );
        assert_eq!(bf16_from_f64(2_105_345.0).to_f64(), 2_113_536.0);
        assert_eq!(
            bf16_from_f64(1.0 + 2f64.powi(-8) + 2f64.powi(-30)).to_bits(),
            0x3f81
        );
        // Exact ties go to the even neighbour, both ways.
        assert_eq!(bf16_from_f64(1.0 + 2f64.powi(-8)).to_bits(), 0x3f80);
        assert_eq!(bf16_from_f64(1.0 + 3.0 * 2f64.powi(-8)).to_bits(), 0x3f82);
    }

    #[test]
    fn specials() {
        assert!(bf16_from_f64(f64::NAN).is_nan() && f16_from_f64(f64::NAN).is_nan());
        assert_eq!(f16_from_f64(1e6), f16::INFINITY);
        assert_eq!(bf16_from_f64(-1e300), bf16::NEG_INFINITY);
        assert_eq!(bf16_from_f64(1e-300).to_bits(), 0);
        assert_eq!(f16_from_f64(-0.0).to_bits(), 0x8000);
    }

    #[test]
    fn every_integer_below_2_pow_26_rounds_to_nearest_even() {
        for n in 0u32..(1 << 26) {
            let v = n as f64;
            let r = bf16_from_f64(v);
            let (below, above) = (
                bf16::from_bits(r.to_bits().saturating_sub(1)).to_f64(),
                bf16::from_bits(r.to_bits() + 1).to_f64(),
            );
            assert!(
                is_nearest(v, r.to_f64(), below, above, r.to_bits() & 1 == 0),
                "bf16 of {n} gave {r}"
            );
            if n < 65_504 {
                let h = f16_from_f64(v);
                let (below, above) = (
                    f16::from_bits(h.to_bits().saturating_sub(1)).to_f64(),
                    f16::from_bits(h.to_bits() + 1).to_f64(),
                );
                assert!(
                    is_nearest(v, h.to_f64(), below, above, h.to_bits() & 1 == 0),
                    "f16 of {n} gave {h}"
                );
            }
        }
    }

    #[test]
    fn random_f64_values_round_to_nearest_even() {
        let mut state = 0x5EED_u64;
        for _ in 0..2_000_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // Magnitudes 2^-20 .. 2^15: normal and finite in both formats, where neighbours are exact in f64.
            let exp = (state >> 58) as i32 - 20 + ((state >> 52) & 7) as i32;
            let v = (1.0 + (state & ((1 << 52) - 1)) as f64 / (1u64 << 52) as f64)
                * 2f64.powi(exp.clamp(-20, 14))
                * if state & (1 << 57) == 0 { 1.0 } else { -1.0 };
            let r = bf16_from_f64(v);
            let b = r.to_bits();
            let (n1, n2) = (
                bf16::from_bits(b.wrapping_sub(1)).to_f64(),
                bf16::from_bits(b.wrapping_add(1)).to_f64(),
            );
            assert!(
                is_nearest(v, r.to_f64(), n1, n2, b & 1 == 0),
                "bf16 of {v:e} gave {r}"
            );
            let h = f16_from_f64(v);
            let b = h.to_bits();
            let (n1, n2) = (
                f16::from_bits(b.wrapping_sub(1)).to_f64(),
                f16::from_bits(b.wrapping_add(1)).to_f64(),
            );
            assert!(
                is_nearest(v, h.to_f64(), n1, n2, b & 1 == 0),
                "f16 of {v:e} gave {h}"
            );
        }
    }
}
