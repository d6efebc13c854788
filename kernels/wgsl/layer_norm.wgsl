// Layer norm over the last dim (biased variance, eps inside the sqrt, as PyTorch): one
// workgroup per row; the mean and then the variance of the centred values are shared-memory
// reductions (two-pass over the row shifted by its first element; see below).

struct Params {
    // rows, cols, x_offset, eps (f32 bits)
    head: vec4<u32>,
    // gamma_offset, beta_offset, unused ×2
    affine: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> gamma: array<T>;
@group(0) @binding(3) var<storage, read> beta: array<T>;
@group(0) @binding(4) var<storage, read_write> dst: array<T>;

//#include workgroup_reduce

@compute @workgroup_size(256)
fn layer_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = min(row_index(wid, nwg), p.head.x - 1u);
    let cols = p.head.y;
    let base = p.head.z + row * cols;
    let n = f32(cols);
    // Statistics of the row shifted by its first element: exact for constant rows (where an
    // f32 mean would leave rounding noise that a tiny eps then amplifies) and better
    // conditioned whenever the mean is large compared with the spread.
    let shift = f32(x[base]);
    var s = 0.0;
    for (var j = lid; j < cols; j += 256u) { s += f32(x[base + j]) - shift; }
    let mean = workgroup_reduce(WG_SUM, s, lid) / n;
    var q = 0.0;
    for (var j = lid; j < cols; j += 256u) {
        let d = (f32(x[base + j]) - shift) - mean;
        q += d * d;
    }
    let inv = 1.0 / sqrt(workgroup_reduce(WG_SUM, q, lid) / n + bitcast<f32>(p.head.w));
    if (row_index(wid, nwg) >= p.head.x) { return; }
    for (var j = lid; j < cols; j += 256u) {
        let y = ((f32(x[base + j]) - shift) - mean) * inv;
        dst[row * cols + j] = to_T(y * f32(gamma[p.affine.x + j]) + f32(beta[p.affine.y + j]));
    }
}
