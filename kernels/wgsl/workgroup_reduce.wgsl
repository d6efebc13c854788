// 256-wide workgroup tree reductions, written once for the kernels that reduce one row per
// workgroup (layer_norm, softmax, l2_normalize, reduce, topk). Not an op: a kernel includes it
// with the line `//#include workgroup_reduce` (the host's preprocessor, in tandem-wgpu's
// `runtime::kernel`, pastes this file there). Every invocation of the workgroup must call a
// helper (they contain barriers) and every one gets the result.

var<workgroup> wg_vals: array<f32, 256>;
var<workgroup> wg_keys: array<u32, 256>;
var<workgroup> wg_idxs: array<u32, 256>;

// Combining operations of `workgroup_reduce`.
const WG_SUM: u32 = 0u;
// WGSL `max`: which operand a NaN yields is up to the implementation (softmax's row max).
const WG_MAX: u32 = 1u;
// Rust's f32::max / f32::min: a NaN operand yields the other one.
const WG_MAX_IGNORE_NAN: u32 = 2u;
const WG_MIN_IGNORE_NAN: u32 = 3u;

// `op` is a constant (or an override constant) at every call site, so the switch folds away.
fn wg_combine(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 1u: { return max(a, b); }
        case 2u: { return select(select(max(a, b), a, is_nan(b)), b, is_nan(a)); }
        case 3u: { return select(select(min(a, b), a, is_nan(b)), b, is_nan(a)); }
        default: { return a + b; }
    }
}

// `v` of every invocation combined by `op` (one of the WG_ constants), in a fixed tree order.
fn workgroup_reduce(op: u32, v: f32, lid: u32) -> f32 {
    wg_vals[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { wg_vals[lid] = wg_combine(op, wg_vals[lid], wg_vals[lid + s]); }
        workgroupBarrier();
    }
    let r = wg_vals[0];
    workgroupBarrier();
    return r;
}

// No candidate (an invocation that saw no element of the row).
const WG_NONE: u32 = 0xffffffffu;

// The best `(key, index)` candidate of the workgroup: the highest key, ties to the lower index;
// an invocation without a candidate passes index WG_NONE and never wins. Returns
// `vec2(key, index)` (index WG_NONE when no invocation had a candidate).
fn workgroup_arg_best(key: u32, index: u32, lid: u32) -> vec2<u32> {
    wg_keys[lid] = key;
    wg_idxs[lid] = index;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let ok = wg_keys[lid + s];
            let oi = wg_idxs[lid + s];
            let mine = wg_idxs[lid];
            if (oi != WG_NONE && (mine == WG_NONE || ok > wg_keys[lid] || (ok == wg_keys[lid] && oi < mine))) {
                wg_keys[lid] = ok;
                wg_idxs[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    let r = vec2<u32>(wg_keys[0], wg_idxs[0]);
    workgroupBarrier();
    return r;
}

// Maps f32 bits to a u32 whose unsigned order is f32::total_cmp's order.
fn order_key(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
