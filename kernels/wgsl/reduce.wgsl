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

//#include workgroup_reduce

// Whether candidate (a, ia) should replace (b, ib) under OP.
fn better(a: f32, ia: u32, b: f32, ib: u32) -> bool {
    if (is_nan(a)) { return false; }
    if (is_nan(b)) { return true; }
    if (OP == 3u) { return a > b || (a == b && ia < ib); }
    return a < b || (a == b && ia < ib);
}

// The workgroup_reduce operation of OP 0-2.
fn wg_op() -> u32 {
    return select(select(WG_SUM, WG_MIN_IGNORE_NAN, OP == 2u), WG_MAX_IGNORE_NAN, OP == 1u);
}

// An arg-reduction candidate as a workgroup_arg_best key (higher wins): the value's
// f32::total_cmp order (reversed for argmin) with -0.0 equal to +0.0, as `better` compares;
// NaN lowest, as it never wins.
fn arg_key(x: f32) -> u32 {
    if (is_nan(x)) { return 0u; }
    let k = order_key(select(x, 0.0, x == 0.0));
    return select(k, ~k, OP == 4u);
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
            acc = wg_combine(wg_op(), acc, x);
        }
    }
//#if ARG
    let arg = workgroup_arg_best(arg_key(best), best_i, lid).y;
    if (lid == 0u && row < rows) {
        // All-NaN rows: the first index, as the sequential reference.
        dst[row] = select(arg, 0u, arg == WG_NONE);
    }
//#else
    let total = workgroup_reduce(wg_op(), acc, lid);
    if (lid == 0u && row < rows) {
        dst[row] = to_T(total);
    }
//#endif
}
