//! The A/B statistics: Welch's two-sample t interval for a split test (two arms, different
//! images, different sizes and variances) and, for shadow mode (both arms on every image), the
//! paired t interval and the exact sign test on per-image differences.
//!
//! Quantiles and tail probabilities come from `statrs` (Student's t, binomial), not from
//! approximations of our own.

use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// Summary of one arm's metric values.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmStats {
    pub n: usize,
    pub mean: f64,
    /// Sample variance (n − 1 denominator); 0 for fewer than two values.
    pub variance: f64,
}

impl ArmStats {
    /// Count, mean and sample variance of `values`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = if n == 0 {
            0.0
        } else {
            values.iter().sum::<f64>() / n as f64
        };
        let variance = if n < 2 {
            0.0
        } else {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        };
        ArmStats { n, mean, variance }
    }
}

/// Challenger minus champion, with a two-sided confidence interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Confidence level of the interval, e.g. 0.95.
    pub confidence: f64,
    /// Degrees of freedom of the t distribution used (Welch–Satterthwaite for a split test,
    /// n − 1 for a paired one); `None` when there are too few values for an interval.
    pub dof: Option<f64>,
    /// Significant at `1 − confidence`: the interval excludes 0.
    pub significant: bool,
}

impl Comparison {
    /// No interval: too few values (never significant).
    fn unbounded(difference: f64, confidence: f64) -> Self {
        Comparison {
            difference,
            ci_low: f64::NEG_INFINITY,
            ci_high: f64::INFINITY,
            confidence,
            dof: None,
            significant: false,
        }
    }

    /// No spread at all: the difference is exact.
    fn exact(difference: f64, confidence: f64) -> Self {
        Comparison {
            difference,
            ci_low: difference,
            ci_high: difference,
            confidence,
            dof: None,
            significant: difference != 0.0,
        }
    }

    /// `difference ± t_{(1+confidence)/2}(dof) · se`.
    fn t_interval(difference: f64, se: f64, dof: f64, confidence: f64) -> Self {
        let t = student_t_quantile(0.5 + confidence / 2.0, dof);
        let (ci_low, ci_high) = (difference - t * se, difference + t * se);
        Comparison {
            difference,
            ci_low,
            ci_high,
            confidence,
            dof: Some(dof),
            significant: ci_low > 0.0 || ci_high < 0.0,
        }
    }
}

/// The Welch–Satterthwaite degrees of freedom of `b.mean − a.mean`; `None` when an arm has
/// fewer than two values or neither has any spread.
pub fn welch_dof(a: &ArmStats, b: &ArmStats) -> Option<f64> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.variance / a.n as f64, b.variance / b.n as f64);
    let denominator = va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64;
    (denominator > 0.0).then(|| (va + vb).powi(2) / denominator)
}

/// Welch's test of `b.mean − a.mean`. With fewer than two values in an arm the interval is
/// unbounded and the result is never significant.
pub fn welch(a: &ArmStats, b: &ArmStats, confidence: f64) -> Comparison {
    let difference = b.mean - a.mean;
    if a.n < 2 || b.n < 2 {
        return Comparison::unbounded(difference, confidence);
    }
    let se = (a.variance / a.n as f64 + b.variance / b.n as f64).sqrt();
    match welch_dof(a, b) {
        Some(dof) if se > 0.0 => Comparison::t_interval(difference, se, dof, confidence),
        _ => Comparison::exact(difference, confidence),
    }
}

/// The paired t interval of the mean of `differences` (challenger − champion on the same
/// image): `mean ± t_{(1+confidence)/2}(n − 1) · sd/√n`. Unbounded below two pairs.
pub fn paired_t(differences: &[f64], confidence: f64) -> Comparison {
    let s = ArmStats::of(differences);
    if s.n < 2 {
        return Comparison::unbounded(s.mean, confidence);
    }
    let se = (s.variance / s.n as f64).sqrt();
    if se == 0.0 {
        return Comparison::exact(s.mean, confidence);
    }
    Comparison::t_interval(s.mean, se, (s.n - 1) as f64, confidence)
}

/// The exact two-sided sign test on paired differences: how often the challenger scored
/// higher (`wins`) or lower (`losses`); ties carry no sign and are left out, as in the
/// classical test.
#[derive(Clone, Debug, PartialEq)]
pub struct SignTest {
    pub wins: u64,
    pub losses: u64,
    pub ties: u64,
    /// Two-sided p-value: `min(1, 2 · P[X ≤ min(wins, losses)])` with `X ~ Binomial(wins +
    /// losses, ½)`; 1 when every pair is a tie.
    pub p_value: f64,
}

/// Counts the signs of `differences` and computes the exact binomial p-value.
pub fn sign_test(differences: &[f64]) -> SignTest {
    let wins = differences.iter().filter(|d| **d > 0.0).count() as u64;
    let losses = differences.iter().filter(|d| **d < 0.0).count() as u64;
    let ties = differences.len() as u64 - wins - losses;
    let n = wins + losses;
    let p_value = match Binomial::new(0.5, n) {
        Ok(binomial) if n > 0 => (2.0 * binomial.cdf(wins.min(losses))).min(1.0),
        _ => 1.0,
    };
    SignTest {
        wins,
        losses,
        ties,
        p_value,
    }
}

/// The `p` quantile of Student's t distribution with `dof` degrees of freedom (statrs); the
/// standard normal's for an infinite `dof` (or one so large that the two agree to 1e-12).
///
/// statrs 0.18 accepts an infinite `dof` but its `inverse_cdf` then never returns (its
/// bisection on the regularised incomplete beta does not converge), so that case is taken
/// here before it reaches statrs.
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    let normal = || statrs::distribution::Normal::standard().inverse_cdf(p);
    if dof.is_infinite() || dof > 1e15 {
        return normal();
    }
    match StudentsT::new(0.0, 1.0, dof) {
        Ok(t) => t.inverse_cdf(p),
        // Only a dof that is not positive or NaN is refused; callers pass n − 1 ≥ 1 or a
        // Welch dof ≥ 1.
        Err(_) => normal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from SciPy 1.x (`scipy.stats.t.ppf`, `ttest_ind(equal_var=False)`,
    // `ttest_rel`, `binomtest`), printed with full precision.
    const CHAMPION: [f64; 6] = [0.61, 0.55, 0.72, 0.48, 0.66, 0.59];
    const CHALLENGER: [f64; 8] = [0.71, 0.80, 0.62, 0.77, 0.90, 0.69, 0.74, 0.83];

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn t_quantiles_match_scipy() {
        assert!(close(
            student_t_quantile(0.975, 10.0),
            2.228138851986274,
            1e-9
        ));
        assert!(close(
            student_t_quantile(0.975, 30.0),
            2.0422724563012378,
            1e-9
        ));
        // Fractional degrees of freedom, as Welch's test produces.
        assert!(close(
            student_t_quantile(0.995, 3.5),
            5.085702223091256,
            1e-8
        ));
        assert!(close(
            student_t_quantile(0.975, f64::INFINITY),
            1.959963984540054,
            1e-9
        ));
    }

    #[test]
    fn welch_matches_scipy() {
        let (a, b) = (ArmStats::of(&CHAMPION), ArmStats::of(&CHALLENGER));
        let dof = welch_dof(&a, &b).unwrap();
        assert!(close(dof, 11.180427297664977, 1e-12), "{dof}");
        let c = welch(&a, &b, 0.95);
        assert!(close(c.difference, 0.15583333333333338, 1e-12));
        assert!(close(c.ci_low, 0.05455579524571462, 1e-9), "{c:?}");
        assert!(close(c.ci_high, 0.2571108714209521, 1e-9), "{c:?}");
        assert!(c.significant);
    }

    #[test]
    fn welch_detects_a_clear_shift_and_not_noise() {
        let a: Vec<f64> = (0..40)
            .map(|i| 0.5 + 0.01 * ((i * 7 % 11) as f64 - 5.0))
            .collect();
        let b: Vec<f64> = a.iter().map(|v| v + 0.1).collect();
        let c = welch(&ArmStats::of(&a), &ArmStats::of(&b), 0.95);
        assert!((c.difference - 0.1).abs() < 1e-12);
        assert!(c.significant && c.ci_low > 0.0);
        let same = welch(&ArmStats::of(&a), &ArmStats::of(&a), 0.95);
        assert!(!same.significant && same.ci_low < 0.0 && same.ci_high > 0.0);
        let tiny = welch(&ArmStats::of(&a[..1]), &ArmStats::of(&b), 0.95);
        assert!(!tiny.significant && tiny.dof.is_none());
    }

    #[test]
    fn paired_t_matches_scipy() {
        let x = [0.61, 0.55, 0.72, 0.48, 0.66, 0.59, 0.70];
        let y = [0.66, 0.58, 0.71, 0.55, 0.70, 0.65, 0.78];
        let d: Vec<f64> = y.iter().zip(x).map(|(y, x)| y - x).collect();
        let c = paired_t(&d, 0.95);
        assert_eq!(c.dof, Some(6.0));
        assert!(close(c.difference, 0.04571428571428572, 1e-12));
        assert!(close(c.ci_low, 0.018042411069216464, 1e-9), "{c:?}");
        assert!(close(c.ci_high, 0.07338616035935498, 1e-9), "{c:?}");
        assert!(c.significant);
        assert!(paired_t(&d[..1], 0.95).dof.is_none());
    }

    #[test]
    fn sign_test_matches_scipy_binomtest() {
        // 6 wins, 1 loss, 2 ties: binomtest(6, 7) = 0.125.
        let d = [0.1, 0.2, 0.05, 0.3, 0.01, 0.02, -0.1, 0.0, 0.0];
        let s = sign_test(&d);
        assert_eq!((s.wins, s.losses, s.ties), (6, 1, 2));
        assert!(close(s.p_value, 0.125, 1e-12), "{s:?}");
        // 2 wins, 8 losses: binomtest(2, 10) = 0.109375.
        let d: Vec<f64> = (0..10).map(|i| if i < 2 { 1.0 } else { -1.0 }).collect();
        assert!(close(sign_test(&d).p_value, 0.109375, 1e-12));
        // Balanced or all ties: no evidence.
        assert_eq!(sign_test(&[1.0, -1.0]).p_value, 1.0);
        assert_eq!(sign_test(&[0.0, 0.0]).p_value, 1.0);
    }
}
