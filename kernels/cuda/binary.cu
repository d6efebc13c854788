// binary_<dtype>: out[i] = op(lhs[...], rhs[...]) with numpy broadcasting. Both operands are
// addressed by strides over the output dims (0 on broadcast dims, `s.a` for lhs, `s.b` for rhs);
// the output is contiguous. Codes match `BinaryOp` on the host.

#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2
#define OP_DIV 3
#define OP_MAX 4
#define OP_MIN 5

__device__ __forceinline__ float apply_binary(u32 op, float a, float b) {
    switch (op) {
        case OP_ADD: return a + b;
        case OP_SUB: return a - b;
        case OP_MUL: return a * b;
        case OP_DIV: return a / b;
        case OP_MAX: return fmaxf(a, b);
        default: return fminf(a, b);
    }
}

template <typename T>
__device__ __forceinline__ void binary(const T* __restrict__ lhs, const T* __restrict__ rhs, T* __restrict__ out, u32 n,
                                       u32 lhs_offset, u32 rhs_offset, u32 op, const Strides8& s) {
    FOR_EACH(i, n) {
        u32 a, b;
        strided_offsets(s, i, a, b);
        out[i] = from_f32<T>(apply_binary(op, to_f32(lhs[lhs_offset + a]), to_f32(rhs[rhs_offset + b])));
    }
}

#define BINARY(T, NAME)                                                                                       \
    extern "C" __global__ void binary_##NAME(const T* __restrict__ lhs, const T* __restrict__ rhs, T* __restrict__ out, \
                                             u32 n, u32 lhs_offset, u32 rhs_offset, u32 op, Strides8 s) {     \
        binary<T>(lhs, rhs, out, n, lhs_offset, rhs_offset, op, s);                                           \
    }
FOR_FLOATS(BINARY)
