// x / max(‖x‖₂, eps) over the last dim (PyTorch's F.normalize): one workgroup per row, the sum
// of squares a shared-memory reduction, then one scaling sweep.

struct Params {
    // rows, cols, x_offset, eps (f32 bits)
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

//#include workgroup_reduce

@compute @workgroup_size(256)
fn l2_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let row = min(row_index(wid, nwg), p.head.x - 1u);
    let cols = p.head.y;
    let base = p.head.z + row * cols;
    var s = 0.0;
    for (var j = lid; j < cols; j += 256u) {
        let v = f32(x[base + j]);
        s += v * v;
    }
    let norm = max(sqrt(workgroup_reduce(WG_SUM, s, lid)), bitcast<f32>(p.head.w));
    if (row_index(wid, nwg) >= p.head.x) { return; }
    for (var j = lid; j < cols; j += 256u) {
        dst[row * cols + j] = to_T(f32(x[base + j]) / norm);
    }
}
