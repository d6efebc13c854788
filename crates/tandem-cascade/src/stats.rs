//! Welch's two-sample t-test: comparing the mean metric of two A/B arms whose variances and
//! sizes differ.

/// Summary of one arm's metric values.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmStats {
    pub n: usize,
    pub mean: f64,
    /// Sample variance (n − 1 denominator); 0 for fewer than two values.
    pub variance: f64,
}

impl ArmStats {
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
    /// Welch–Satterthwaite degrees of freedom; `None` when either arm has < 2 values.
    pub dof: Option<f64>,
    /// Significant at `1 − confidence`: the interval excludes 0.
    pub significant: bool,
}

/// Welch's test of `b.mean − a.mean`. With fewer than two values in an arm the interval is
/// unbounded and the result is never significant.
pub fn welch(a: &ArmStats, b: &ArmStats, confidence: f64) -> Comparison {
    let difference = b.mean - a.mean;
    if a.n < 2 || b.n < 2 {
        return Comparison {
            difference,
            ci_low: f64::NEG_INFINITY,
            ci_high: f64::INFINITY,
            confidence,
            dof: None,
            significant: false,
        };
    }
    let (va, vb) = (a.variance / a.n as f64, b.variance / b.n as f64);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        // No spread at all: the difference is exact.
        return Comparison {
            difference,
            ci_low: difference,
            ci_high: difference,
            confidence,
            dof: None,
            significant: difference != 0.0,
        };
    }
    let dof = (va + vb).powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64);
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

/// Published coefficients, kept digit for digit.
#[allow(clippy::excessive_precision)]
/// Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Student t quantile for `dof` degrees of freedom: Hill's (1970) expansion of the normal
/// quantile, accurate to about 1e-4 for dof ≥ 2 (plenty for a confidence interval).
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    let z = normal_quantile(p);
    if !dof.is_finite() || dof > 1e7 {
        return z;
    }
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    let g4 = (79.0 * z.powi(9) + 776.0 * z.powi(7) + 1482.0 * z.powi(5)
        - 1920.0 * z.powi(3)
        - 945.0 * z)
        / 92160.0;
    z + g1 / dof + g2 / dof.powi(2) + g3 / dof.powi(3) + g4 / dof.powi(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        // t tables: t_{0.975}(10) = 2.228, t_{0.975}(30) = 2.042, t_{0.975}(5) = 2.571
        assert!((student_t_quantile(0.975, 10.0) - 2.2281).abs() < 2e-3);
        assert!((student_t_quantile(0.975, 30.0) - 2.0423).abs() < 1e-3);
        assert!((student_t_quantile(0.975, 5.0) - 2.5706).abs() < 1e-2);
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
        assert!(!tiny.significant);
    }
}
