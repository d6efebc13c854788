// full(): every 32-bit word of the output gets word `pattern[i % 2]`. Two words describe any
// dtype: one repeated 32-bit value, a pair of f16s packed in a word, or an i64's (lo, hi).

struct Params {
    // words, pattern0, pattern1, unused
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
    out[i] = select(p.head.y, p.head.z, (i & 1u) == 1u);
}
