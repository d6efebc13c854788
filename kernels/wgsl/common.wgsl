// Shared helpers prepended by the host to every kernel (not an op on its own): index helpers,
// NaN tests and the f32 activation math used by the elementwise and matmul-epilogue kernels.

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// tanh that never produces NaN for large |x| (a naive (e^2x-1)/(e^2x+1) gives inf/inf) and
// keeps relative accuracy near 0 through its Taylor series.
fn tanh_f(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.5) {
        let x2 = x * x;
        return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254
            + x2 * (0.021869489 + x2 * (-0.0088632355 + x2 * 0.0035921280))))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// erfc(z) for z >= 0 with a relative error below 1.2e-7 (the Chebyshev-fitted formula of
// Numerical Recipes' erfcc); erf is derived from it so that gelu keeps its relative accuracy
// for large negative inputs, where 1 + erf(x) is tiny.
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(-z * z + poly);
}

fn gelu_erf(x: f32) -> f32 {
    let c = erfc_pos(abs(x) * 0.70710678118654752);
    // 1 + erf(x / sqrt 2) = erfc(-x / sqrt 2): 2 - erfc(|x|/sqrt 2) for x >= 0, erfc(|x|/sqrt 2) below.
    return 0.5 * x * select(2.0 - c, c, x < 0.0);
}

fn gelu_tanh(x: f32) -> f32 {
    return 0.5 * x * (1.0 + tanh_f(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Codes shared with the host (`ops::unary::code`).
const ACT_NONE: u32 = 0u;
const ACT_GELU: u32 = 1u;
const ACT_GELU_TANH: u32 = 2u;
const ACT_QUICK_GELU: u32 = 3u;
const ACT_RELU: u32 = 4u;
const ACT_SILU: u32 = 5u;
const ACT_TANH: u32 = 6u;
const OP_AFFINE: u32 = 7u;
const OP_NEG: u32 = 8u;
const OP_EXP: u32 = 9u;
const OP_LOG: u32 = 10u;
const OP_SQRT: u32 = 11u;
const OP_RSQRT: u32 = 12u;
const OP_RECIP: u32 = 13u;
const OP_ABS: u32 = 14u;
const OP_SQUARE: u32 = 15u;
const OP_SIGMOID: u32 = 16u;

// `op` is an override constant at every call site, so the switch folds away.
fn apply_unary(op: u32, x: f32, mul: f32, add: f32) -> f32 {
    switch op {
        case 1u: { return gelu_erf(x); }
        case 2u: { return gelu_tanh(x); }
        case 3u: { return x / (1.0 + exp(-1.702 * x)); }
        // Rust's f32::max: NaN yields the other operand.
        case 4u: { return select(0.0, x, x > 0.0); }
        case 5u: { return x / (1.0 + exp(-x)); }
        case 6u: { return tanh_f(x); }
        case 7u: { return x * mul + add; }
        case 8u: { return -x; }
        case 9u: { return exp(x); }
        case 10u: { return log(x); }
        case 11u: { return sqrt(x); }
        case 12u: { return 1.0 / sqrt(x); }
        case 13u: { return 1.0 / x; }
        case 14u: { return abs(x); }
        case 15u: { return x * x; }
        case 16u: { return sigmoid(x); }
        default: { return x; }
    }
}

// Linear index of this invocation in a 1-D problem laid over a 2-D grid of 256-wide groups
// (grids are split in two when they exceed the 65535-groups-per-dimension limit).
fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// Row handled by a workgroup in one-row-per-workgroup kernels.
fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}
