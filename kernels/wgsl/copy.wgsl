// Strided copy: element i (row-major over `dims`) goes from src[src_offset + Σ idx·src_stride]
// to dst[dst_offset + Σ idx·dst_stride]. With contiguous dst strides this is `contiguous()`;
// concat uses it with the strides of the output slab each input lands in. `E` is the raw storage
// element (u32 for every 32-bit dtype, f16, or vec2<u32> for i64), so one pipeline serves all
// dtypes of that width.

struct Params {
    // n, src_offset, dst_offset, rank (≤ 8, after merging contiguous dims on the host)
    head: vec4<u32>,
    dims: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<E>;
@group(0) @binding(2) var<storage, read_write> dst: array<E>;

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
    var rem = i;
    var s = p.head.y;
    var d = p.head.z;
    for (var k = p.head.w; k > 0u; k--) {
        let a = (k - 1u) / 4u;
        let b = (k - 1u) % 4u;
        let dim = p.dims[a][b];
        let idx = rem % dim;
        rem = rem / dim;
        s += idx * p.src_strides[a][b];
        d += idx * p.dst_strides[a][b];
    }
    dst[d] = src[s];
}
