// Elementwise op of two float tensors with numpy broadcasting: both operands come with the
// output's dims and their own strides (0 on broadcast dims). The CONTIGUOUS specialisation skips
// the index arithmetic when both are plain contiguous ranges.

override OP: u32;

struct Params {
    // n, lhs_offset, rhs_offset, rank (≤ 8 after merging dims on the host)
    head: vec4<u32>,
    dims: array<vec4<u32>, 2>,
    lhs_strides: array<vec4<u32>, 2>,
    rhs_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lhs: array<T>;
@group(0) @binding(2) var<storage, read> rhs: array<T>;
@group(0) @binding(3) var<storage, read_write> dst: array<T>;

fn apply(a: f32, b: f32) -> f32 {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        // Rust's f32::max / f32::min: a NaN operand yields the other one.
        case 4u: { return select(select(max(a, b), a, is_nan(b)), b, is_nan(a)); }
        default: { return select(select(min(a, b), a, is_nan(b)), b, is_nan(a)); }
    }
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
//#if CONTIGUOUS
    let l = p.head.y + i;
    let r = p.head.z + i;
//#else
    var rem = i;
    var l = p.head.y;
    var r = p.head.z;
    for (var k = p.head.w; k > 0u; k--) {
        let a = (k - 1u) / 4u;
        let b = (k - 1u) % 4u;
        let dim = p.dims[a][b];
        let idx = rem % dim;
        rem = rem / dim;
        l += idx * p.lhs_strides[a][b];
        r += idx * p.rhs_strides[a][b];
    }
//#endif
    dst[i] = to_T(apply(f32(lhs[l]), f32(rhs[r])));
}
