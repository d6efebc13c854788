// Top-k over the last dim: one workgroup per row, k rounds of a 256-wide arg-max reduction,
// each round restricted to entries ranked after the previous pick. Ranking is descending
// f32::total_cmp (NaN above +inf) with ties to the lower index, encoded as the pair
// (order-preserving key of the bits, index), so every backend returns identical results.

struct Params {
    // rows, cols, offset, k
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> values: array<T>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;

var<workgroup> keys: array<u32, 256>;
var<workgroup> idxs: array<u32, 256>;

// Maps f32 bits to a u32 whose unsigned order is f32::total_cmp's order.
fn order_key(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// (ka, ia) ranks before (kb, ib).
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(256)
fn topk(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = min(row_index(wid, nwg), p.head.x - 1u);
    let cols = p.head.y;
    let base = p.head.z + row * cols;
    let none = 0xffffffffu;
    var prev_key = 0u;
    var prev_idx = none;
    for (var t = 0u; t < p.head.w; t++) {
        var bk = 0u;
        var bi = none;
        for (var j = lid; j < cols; j += 256u) {
            let k = order_key(f32(src[base + j]));
            let after_prev = prev_idx == none || before(prev_key, prev_idx, k, j);
            if (after_prev && (bi == none || before(k, j, bk, bi))) { bk = k; bi = j; }
        }
        keys[lid] = bk;
        idxs[lid] = bi;
        workgroupBarrier();
        for (var s = 128u; s > 0u; s >>= 1u) {
            if (lid < s) {
                let oi = idxs[lid + s];
                if (oi != none && (idxs[lid] == none || before(keys[lid + s], oi, keys[lid], idxs[lid]))) {
                    keys[lid] = keys[lid + s];
                    idxs[lid] = oi;
                }
            }
            workgroupBarrier();
        }
        prev_key = keys[0];
        prev_idx = idxs[0];
        workgroupBarrier();
        if (lid == 0u && row_index(wid, nwg) < p.head.x) {
            let out = row * p.head.w + t;
            values[out] = src[base + prev_idx];
            indices[out] = prev_idx;
        }
    }
}
