//! Elementwise functions of one input, in f64, written from their textbook definitions.

use tandem_tensor::UnaryOp;

pub fn apply(op: UnaryOp, x: f64) -> f64 {
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    match op {
        UnaryOp::Affine { mul, add } => x * mul as f64 + add as f64,
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Square => x * x,
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        UnaryOp::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x.powi(3))).tanh())
        }
        UnaryOp::QuickGelu => x * sigmoid(1.702 * x),
    }
}

pub fn unary(op: UnaryOp, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| apply(op, v)).collect()
}

/// Every unary op, with the affine parameters the suite uses.
pub fn all_ops() -> Vec<UnaryOp> {
    vec![
        UnaryOp::Affine {
            mul: 1.5,
            add: -0.25,
        },
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Abs,
        UnaryOp::Square,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Silu,
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::QuickGelu,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // gelu(1) = 0.5 (1 + erf(1/√2)) = 0.8413447460685429
        assert!((apply(UnaryOp::Gelu, 1.0) - 0.841_344_746_068_542_9).abs() < 1e-12);
        assert!((apply(UnaryOp::QuickGelu, 0.0)).abs() < 1e-15);
        assert_eq!(apply(UnaryOp::Relu, -2.0), 0.0);
    }
}
