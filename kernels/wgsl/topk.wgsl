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

//#include workgroup_reduce

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
        // `before` is workgroup_arg_best's order: higher key, then lower index.
        let best = workgroup_arg_best(bk, bi, lid);
        prev_key = best.x;
        prev_idx = best.y;
        if (lid == 0u && row_index(wid, nwg) < p.head.x) {
            let out = row * p.head.w + t;
            values[out] = src[base + prev_idx];
            indices[out] = prev_idx;
        }
    }
}
