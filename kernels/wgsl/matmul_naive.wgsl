// Naive batched matmul, one invocation per output element reading both operands straight from
// global memory. Used only by the benches, as the baseline the tiled `matmul` is measured against.

struct Params {
    // m, n, k, batch
    shape: vec4<u32>,
    // offset, batch_stride, row_stride, col_stride
    lhs: vec4<u32>,
    rhs: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> lhs: array<T>;
@group(0) @binding(2) var<storage, read> rhs: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn matmul_naive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    let m = p.shape.x;
    let n = p.shape.y;
    if (i >= p.shape.w * m * n) { return; }
    let b = i / (m * n);
    let row = (i / n) % m;
    let col = i % n;
    var acc = 0.0;
    for (var kk = 0u; kk < p.shape.z; kk++) {
        acc += f32(lhs[p.lhs.x + b * p.lhs.y + row * p.lhs.z + kk * p.lhs.w])
             * f32(rhs[p.rhs.x + b * p.rhs.y + kk * p.rhs.z + col * p.rhs.w]);
    }
    out[i] = to_T(acc);
}
