// Softmax (or, with LOG, log-softmax) over the last dim: one workgroup per row, three sweeps
// over the row (max, sum of exponentials, write), each a 256-wide shared-memory reduction. The
// additive mask (any strides: broadcasts are stride 0) and the causal limit are applied on the
// fly, so neither is materialised. Causal row r is query r % lq, which sees keys
// 0..=cols - lq + r % lq. A row with every key masked yields NaN, as PyTorch.

struct Params {
    // rows, cols, x_offset, lq
    head: vec4<u32>,
    // causal, has_mask, mask_offset, mask_last_stride
    mask_head: vec4<u32>,
    // mask lead rank (≤ 8), unused ×3
    mask_rank: vec4<u32>,
    mask_dims: array<vec4<u32>, 2>,
    mask_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> mask: array<T>;
@group(0) @binding(3) var<storage, read_write> dst: array<T>;

//#include workgroup_reduce

@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = min(row_index(wid, nwg), p.head.x - 1u);
    let cols = p.head.y;
    let base = p.head.z + row * cols;
    let neg_inf = bitcast<f32>(0xff800000u);
    var visible = cols;
    if (p.mask_head.x != 0u) {
        visible = cols - p.head.w + row % p.head.w + 1u;
    }
    var mrow = p.mask_head.z;
    if (p.mask_head.y != 0u) {
        var rem = row;
        for (var k = p.mask_rank.x; k > 0u; k--) {
            let a = (k - 1u) / 4u;
            let b = (k - 1u) % 4u;
            let dim = p.mask_dims[a][b];
            mrow += (rem % dim) * p.mask_strides[a][b];
            rem = rem / dim;
        }
    }
    let ms = p.mask_head.w;
    let has_mask = p.mask_head.y != 0u;

    var m = neg_inf;
    for (var j = lid; j < cols; j += 256u) {
        var v = f32(x[base + j]);
        if (has_mask) { v += f32(mask[mrow + j * ms]); }
        if (j >= visible) { v = neg_inf; }
        m = max(m, v);
    }
    m = workgroup_reduce(WG_MAX, m, lid);

    var s = 0.0;
    for (var j = lid; j < cols; j += 256u) {
        var v = f32(x[base + j]);
        if (has_mask) { v += f32(mask[mrow + j * ms]); }
        if (j >= visible) { v = neg_inf; }
        s += exp(v - m);
    }
    s = workgroup_reduce(WG_SUM, s, lid);

    if (row_index(wid, nwg) >= p.head.x) { return; }
//#if LOG
    let lse = log(s);
//#else
    let inv = 1.0 / s;
//#endif
    for (var j = lid; j < cols; j += 256u) {
        var v = f32(x[base + j]);
        if (has_mask) { v += f32(mask[mrow + j * ms]); }
        if (j >= visible) { v = neg_inf; }
//#if LOG
        dst[base - p.head.z + j] = to_T(v - m - lse);
//#else
        dst[base - p.head.z + j] = to_T(exp(v - m) * inv);
//#endif
    }
}
