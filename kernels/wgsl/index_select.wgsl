// Gather along one dim (embedding lookups): out[o, j, r] = src[(o·size + ids[j])·inner + r].
// Ids are u32 or i64 (low word used; the host validated they are in range). `E` is the raw
// storage element of the source.

struct Params {
    // n_out, src_offset, ids_offset, inner
    head: vec4<u32>,
    // size (of the selected dim), n_ids, unused ×2
    shape: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<E>;
//#if IDS_I64
@group(0) @binding(2) var<storage, read> ids: array<vec2<u32>>;
//#else
@group(0) @binding(2) var<storage, read> ids: array<u32>;
//#endif
@group(0) @binding(3) var<storage, read_write> dst: array<E>;

@compute @workgroup_size(256)
fn index_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
    let inner = p.head.w;
    let n_ids = p.shape.y;
    let r = i % inner;
    let j = (i / inner) % n_ids;
    let o = i / (inner * n_ids);
//#if IDS_I64
    let id = ids[p.head.z + j].x;
//#else
    let id = ids[p.head.z + j];
//#endif
    dst[i] = src[p.head.y + (o * p.shape.x + id) * inner + r];
}
