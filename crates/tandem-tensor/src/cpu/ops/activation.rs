//! Branch-free f32 `exp` (also softmax's) and GELU/sigmoid activations over slices, written so the compiler
//! vectorises them, and compiled a second time for AVX2 when the CPU reports it at run time.
//!
//! Why: the scalar forms (`libm::erff`, `f32::exp`) cost ≈ 50 ms for one 577×3072 GELU of the
//! ViT (issue 13). The slice functions here evaluate every lane with the same arithmetic
//! (no fused multiply-add, no lane-dependent branch), so the AVX2 and the portable paths give
//! **bit-identical** results on every CPU.
//!
//! Accuracy (measured against f64 `exp`/`erf` in the tests, and by the conformance suite
//! against its f64 reference):
//! * [`exp`]: Cody–Waite reduction `x = k·ln2 + r`, `|r| ≤ ln2/2`, then a degree-6 polynomial
//!   fitted (relative least squares on Chebyshev nodes) to `(eʳ − 1 − r)/r²`: ≤ 2 ulp over
//!   `[-87.3, 88.3]`; 0 below (the scalar form's subnormal results are flushed), +∞ above.
//! * [`gelu`] `= x·Φ(x)`, `Φ(x) = (1 + erf(x/√2))/2` (`torch.nn.functional.gelu`, exact form):
//!   for `|z| < 0.9` (`z = x/√2`) `erf(z) = z·P(z²)` (degree 5); above, `erfc(|z|) =
//!   e^{−z²}·Q(1/|z| − c)` (degree 9), so `Φ` keeps its relative precision for negative `x`,
//!   where `1 + erf` cancels; beyond `|z| = 3.95`, `Φ` is 0 or 1 (as `1 + erf` is in f32 in
//!   torch and in the scalar form). Both fits were made with numpy; the largest relative error
//!   of `Φ` in f32 is about 3·10⁻⁷.

/// `(eʳ − 1 − r)/r²` on `|r| ≤ ln2/2`, lowest degree first.
const EXP_POLY: [f32; 5] = [
    0.499_999_97,
    0.166_665_79,
    0.041_667_9,
    0.008_362_99,
    0.001_381_42,
];
/// `erf(z)/z` as a polynomial in `z²` on `|z| ≤ 0.9`, lowest degree first (the constant
/// term is the series' own, 2/√π).
const ERF_SMALL: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    -0.376_126_35,
    0.112_837_255,
    -0.026_860_978,
    0.005_204_871,
    -0.000_818_592_85,
    0.000_085_530_2,
];
/// `erfc(a)·e^{a²}` as a polynomial in `1/a − ERFC_CENTER` on `0.9 ≤ a ≤ 3.95`.
const ERFC_BIG: [f32; 10] = [
    0.327_241_42,
    0.363_027_2,
    -0.164_514_5,
    0.047_699_54,
    0.011_766_8,
    -0.033_478_56,
    0.034_914_22,
    -0.026_102_28,
    0.000_697_37,
    0.018_001_79,
];
const ERFC_CENTER: f32 = 0.682_137_8;
/// Below this `|z|`, the small-argument `erf` form is used.
const ERF_SPLIT: f32 = 0.9;
/// Above this `|z|`, `erfc(|z|)` is below half an ulp of 1 and `Φ` is 0 or 1.
const ERF_SATURATED: f32 = 3.95;

#[inline(always)]
fn horner<const N: usize>(c: &[f32; N], t: f32) -> f32 {
    let mut acc = c[N - 1];
    for &k in c[..N - 1].iter().rev() {
        acc = acc * t + k;
    }
    acc
}

/// `eˣ` of one lane (see the module documentation for its accuracy).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to the nearest integer (ties to even) and leaves it in the low
    // mantissa bits, with no float→int conversion.
    const ROUNDER: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.3, 88.3);
    let shifted = clamped * std::f32::consts::LOG2_E + ROUNDER;
    let k = shifted - ROUNDER;
    let r = (clamped - k * LN2_HI) - k * LN2_LO;
    let p = 1.0 + r + r * r * horner(&EXP_POLY, r);
    let k_int = shifted.to_bits() as i32 - ROUNDER.to_bits() as i32;
    let scale = f32::from_bits(((k_int + 127) << 23) as u32);
    let y = p * scale;
    let y = if x < -87.3 { 0.0 } else { y };
    let y = if x > 88.3 { f32::INFINITY } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `Φ(x) = (1 + erf(x/√2))/2`, the standard normal CDF, of one lane.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let small = 0.5 + 0.5 * (z * horner(&ERF_SMALL, z * z));
    let ac = a.clamp(ERF_SPLIT, ERF_SATURATED);
    let half_erfc = 0.5 * exp(-(ac * ac)) * horner(&ERFC_BIG, 1.0 / ac - ERFC_CENTER);
    let big = if z > 0.0 { 1.0 - half_erfc } else { half_erfc };
    let big = if a > ERF_SATURATED {
        if z > 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        big
    };
    if a < ERF_SPLIT {
        small
    } else {
        big
    }
}

/// Exact (erf) GELU of one lane: `x·Φ(x)`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// `x·σ(αx) = x / (1 + e^{−αx})`: SiLU for `α = 1`, QuickGELU (CLIP) for `α = 1.702`.
#[inline(always)]
pub fn x_sigmoid(x: f32, alpha: f32) -> f32 {
    x / (1.0 + exp(-alpha * x))
}

/// `σ(x) = 1 / (1 + e^{−x})`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The activations [`apply`] vectorises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// [`exp`].
    Exp,
    /// [`gelu`].
    Gelu,
    /// [`x_sigmoid`] with `α`.
    XSigmoid(f32),
    /// [`sigmoid`].
    Sigmoid,
}

#[inline(always)]
fn apply_portable(act: Activation, values: &mut [f32]) {
    match act {
        Activation::Exp => values.iter_mut().for_each(|v| *v = exp(*v)),
        Activation::Gelu => values.iter_mut().for_each(|v| *v = gelu(*v)),
        Activation::XSigmoid(alpha) => values.iter_mut().for_each(|v| *v = x_sigmoid(*v, alpha)),
        Activation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_avx2(act: Activation, values: &mut [f32]) {
    apply_portable(act, values)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn apply_avx512(act: Activation, values: &mut [f32]) {
    apply_portable(act, values)
}

/// Applies `act` to every element in place, with 512-bit vectors when the CPU has AVX-512F,
/// else 256-bit ones when it has AVX2 (checked at run time); the result is the same bit for
/// bit either way: enabling AVX-512F also enables FMA, but Rust never fuses a multiply and an
/// add unless asked (`mul_add`), which this code does not, so every operation rounds as in
/// the portable code.
pub fn apply(act: Activation, values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU reports AVX-512F, the only feature `apply_avx512` is compiled for.
        unsafe { apply_avx512(act, values) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU reports AVX2, the only feature `apply_avx2` is compiled for.
        unsafe { apply_avx2(act, values) };
        return;
    }
    apply_portable(act, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if got == w {
            return 0.0;
        }
        let ulp = f32::from_bits(w.abs().to_bits() + 1) - w.abs();
        ((got as f64 - want) / ulp as f64).abs()
    }

    fn gelu_f64(x: f64) -> f64 {
        0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2)
    }

    #[test]
    fn exp_is_within_two_ulp_and_saturates() {
        let mut worst = 0.0f64;
        let mut x = -87.3f32;
        while x < 88.3 {
            worst = worst.max(ulps(exp(x), (x as f64).exp()));
            x += 0.000_731;
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn gelu_matches_the_f64_erf_form() {
        // Relative error of GELU where Φ is not saturated, against f64 `erf` at the f32
        // argument `z = x/√2` the kernel (like torch and `libm::erff`) starts from. Budget:
        // rounding `z²` (½ ulp of up to 15.6, ≈ 9.3e-7 relative in e^{−z²}) + the erfc
        // polynomial (2e-7) + `exp` (2.4e-7) + the final products (1.8e-7): 1.6e-6. The scalar
        // form `0.5·x·(1 + erff(z))` it replaces is measured alongside: its `1 + erf` cancels
        // for negative x, so it is worse there.
        let reference = |x: f32| {
            let z = (x * std::f32::consts::FRAC_1_SQRT_2) as f64;
            0.5 * x as f64 * libm::erfc(-z)
        };
        let (mut worst, mut worst_scalar) = (0.0f64, 0.0f64);
        let mut x = -5.58f32;
        while x < 5.58 {
            let want = reference(x);
            if want != 0.0 {
                worst = worst.max(((gelu(x) as f64 - want) / want).abs());
                let scalar = 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
                worst_scalar = worst_scalar.max(((scalar as f64 - want) / want).abs());
            }
            x += 0.000_37;
        }
        assert!(
            worst < 1.6e-6,
            "worst relative error {worst} (scalar form: {worst_scalar})"
        );
        assert!(worst < worst_scalar, "{worst} vs scalar {worst_scalar}");
        // Saturated: exactly x for large x, (-)0 for very negative x, as `1 + erf` is in f32;
        // the true value there is below 1e-7 in magnitude.
        assert!(gelu_f64(-5.59).abs() < 1e-7);
        assert_eq!(gelu(-5.59), 0.0);
        assert_eq!(gelu(12.0), 12.0);
        assert_eq!(gelu(-12.0), 0.0);
        assert!(gelu(f32::NAN).is_nan());
        assert_eq!(gelu(f32::INFINITY), f32::INFINITY);
    }

    proptest! {
        #[test]
        fn the_simd_path_is_bit_identical_to_the_portable_one(
            xs in proptest::collection::vec(-100f32..100f32, 1..300),
            which in 0usize..4,
        ) {
            let act = [
                Activation::Gelu,
                Activation::XSigmoid(1.702),
                Activation::Sigmoid,
                Activation::Exp,
            ][which];
            let mut a = xs.clone();
            let mut b = xs;
            apply(act, &mut a);
            apply_portable(act, &mut b);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&a), bits(&b));
        }

        #[test]
        fn quick_gelu_and_sigmoid_match_f64(x in -60f32..60f32) {
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            prop_assert!((sigmoid(x) as f64 - s).abs() <= 4.0 * f32::EPSILON as f64 * s.max(1e-30));
            // The argument is rounded to f32 as in the kernel: its rounding, not `exp`, is
            // the larger error for large |x|.
            let q = x as f64 / (1.0 + ((-1.702 * x) as f64).exp());
            let got = x_sigmoid(x, 1.702) as f64;
            // Where e^{−αx} overflows f32 (αx < −88.3) the result is −0, as in the scalar form;
            // the true value there is below 1e-36.
            prop_assert!((got - q).abs() <= 4.0 * f32::EPSILON as f64 * q.abs() + 1e-36, "{got} vs {q}");
        }
    }
}
