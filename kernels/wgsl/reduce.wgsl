// Reduction over the last dim of a contiguous tensor: one workgroup per row, each invocation
// folds a strided slice of the row, then a shared-memory tree combines the 256 partials.
// Arg-reductions carry (value, index) pairs and keep the FIRST best; NaN never wins (as the
// CPU reference); Max/Min ignore NaN like Rust's f32::max.

override OP: u32; // 0 sum, 1 max, 2 min, 3 argmax, 4 argmin

struct Params {
    // rows, cols, offset, unused
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
//#if ARG
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
//#else
@group(0) @binding(2) var<storage, read_write> dst: array<T>;
//#endif

var<workgroup> vals: array<f32, 256>;
var<workgroup> idxs: array<u32, 256>;

// Whether candidate (a, ia) should replace (b, ib) under OP.
fn better(a: f32, ia: u32, b: f32, ib: u32) -> bool {
    if (is_nan(a)) { return false; }
    if (is_nan(b)) { return true; }
    if (OP == 3u) { return a > b || (a == b && ia < ib); }
    return a < b || (a == b && ia < ib);
}

fn combine(a: f32, b: f32) -> f32 {
    if (OP == 0u) { return a + b; }
    if (is_nan(a)) { return b; }
    if (is_nan(b)) { return a; }
    return select(min(a, b), max(a, b), OP == 1u);
}

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row = row_index(wid, nwg);
    let rows = p.head.x;
    let cols = p.head.y;
    let base = p.head.z + min(row, rows - 1u) * cols;
    var acc = select(select(0.0, bitcast<f32>(0x7f800000u), OP == 2u), bitcast<f32>(0xff800000u), OP == 1u);
    var best = bitcast<f32>(0x7fc00000u);
    var best_i = 0xffffffffu;
    for (var j = lid; j < cols; j += 256u) {
        let x = f32(src[base + j]);
        if (OP >= 3u) {
            if (best_i == 0xffffffffu || better(x, j, best, best_i)) { best = x; best_i = j; }
        } else {
            acc = combine(acc, x);
        }
    }
    if (OP >= 3u) { vals[lid] = best; idxs[lid] = best_i; } else { vals[lid] = acc; }
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            if (OP >= 3u) {
                let oi = idxs[lid + s];
                if (oi != 0xffffffffu && (idxs[lid] == 0xffffffffu || better(vals[lid + s], oi, vals[lid], idxs[lid]))) {
                    vals[lid] = vals[lid + s];
                    idxs[lid] = oi;
                }
            } else {
                vals[lid] = combine(vals[lid], vals[lid + s]);
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < rows) {
//#if ARG
        // All-NaN rows: the first index, as the sequential reference.
        dst[row] = select(idxs[0], 0u, idxs[0] == 0xffffffffu);
//#else
        dst[row] = to_T(vals[0]);
//#endif
    }
}
