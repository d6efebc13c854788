// unary_<dtype>: y = op(x) elementwise over `n` contiguous elements, computed in f32.
// `op` codes match `UnaryOp` on the host (tandem-cuda `ops::unary`); Affine uses `mul`, `add`.

#define OP_AFFINE 0
#define OP_NEG 1
#define OP_EXP 2
#define OP_LOG 3
#define OP_SQRT 4
#define OP_RSQRT 5
#define OP_RECIP 6
#define OP_ABS 7
#define OP_SQUARE 8
#define OP_TANH 9
#define OP_SIGMOID 10
#define OP_RELU 11
#define OP_SILU 12
#define OP_GELU 13
#define OP_GELU_TANH 14
#define OP_QUICK_GELU 15

__device__ __forceinline__ float apply_unary(u32 op, float x, float mul, float add) {
    switch (op) {
        case OP_AFFINE: return x * mul + add;
        case OP_NEG: return -x;
        case OP_EXP: return expf(x);
        case OP_LOG: return logf(x);
        case OP_SQRT: return sqrtf(x);
        case OP_RSQRT: return 1.0f / sqrtf(x);
        case OP_RECIP: return 1.0f / x;
        case OP_ABS: return fabsf(x);
        case OP_SQUARE: return x * x;
        case OP_TANH: return tanhf(x);
        case OP_SIGMOID: return sigmoid(x);
        case OP_RELU: return fmaxf(x, 0.0f);
        case OP_SILU: return x / (1.0f + expf(-x));
        case OP_GELU: return gelu_erf(x);
        case OP_GELU_TANH: return gelu_tanh(x);
        case OP_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
        default: return __int_as_float(0x7fc00000);
    }
}

template <typename T>
__device__ __forceinline__ void unary(const T* __restrict__ x, T* __restrict__ y, u32 n, u32 op, float mul, float add) {
    FOR_EACH(i, n) y[i] = from_f32<T>(apply_unary(op, to_f32(x[i]), mul, add));
}

#define UNARY(T, NAME)                                                                                           \
    extern "C" __global__ void unary_##NAME(const T* __restrict__ x, T* __restrict__ y, u32 n, u32 op, float mul, \
                                            float add) {                                                         \
        unary<T>(x, y, n, op, mul, add);                                                                         \
    }
FOR_FLOATS(UNARY)
