// Elementwise function of one contiguous float tensor; `OP` (see common.wgsl) is an override
// constant so each op compiles to straight-line code.

override OP: u32;

struct Params {
    // n, offset, mul (f32 bits), add (f32 bits): the affine op's coefficients
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
    let x = f32(src[p.head.y + i]);
    dst[i] = to_T(apply_unary(OP, x, bitcast<f32>(p.head.z), bitcast<f32>(p.head.w)));
}
