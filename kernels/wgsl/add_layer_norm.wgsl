// The residual add fused with the layer norm after it: sum = x + r stored as T, and the layer
// norm of that stored sum (biased variance, eps inside the sqrt, as PyTorch), exactly what
// `binary` add then `layer_norm` compute, in one dispatch that reads the inputs once. One
// workgroup per row; each invocation reads back only the sum elements it wrote itself (the same
// j stride in every loop), so no barrier is needed between the store and the statistics.

struct Params {
    // rows, cols, x_offset, eps (f32 bits)
    head: vec4<u32>,
    // gamma_offset, beta_offset, r_offset, unused
    affine: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> r: array<T>;
@group(0) @binding(3) var<storage, read> gamma: array<T>;
@group(0) @binding(4) var<storage, read> beta: array<T>;
@group(0) @binding(5) var<storage, read_write> sum: array<T>;
@group(0) @binding(6) var<storage, read_write> dst: array<T>;

//#include workgroup_reduce

@compute @workgroup_size(256)
fn add_layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    // Uniform across the workgroup (it depends on the workgroup id only), so returning here
    // keeps the barriers of the reductions below in uniform control flow.
    if (row >= p.head.x) { return; }
    let cols = p.head.y;
    let xb = p.head.z + row * cols;
    let rb = p.affine.z + row * cols;
    let out = row * cols;
    let n = f32(cols);
    // The stored first element of the sum, as layer_norm.wgsl shifts by the row's first element.
    let shift = f32(to_T(f32(x[xb]) + f32(r[rb])));
    var s = 0.0;
    for (var j = lid; j < cols; j += 256u) {
        let v = to_T(f32(x[xb + j]) + f32(r[rb + j]));
        sum[out + j] = v;
        s += f32(v) - shift;
    }
    let mean = workgroup_reduce(WG_SUM, s, lid) / n;
    var q = 0.0;
    for (var j = lid; j < cols; j += 256u) {
        let d = (f32(sum[out + j]) - shift) - mean;
        q += d * d;
    }
    let inv = 1.0 / sqrt(workgroup_reduce(WG_SUM, q, lid) / n + bitcast<f32>(p.head.w));
    for (var j = lid; j < cols; j += 256u) {
        let y = ((f32(sum[out + j]) - shift) - mean) * inv;
        dst[out + j] = to_T(y * f32(gamma[p.affine.x + j]) + f32(beta[p.affine.y + j]));
    }
}
