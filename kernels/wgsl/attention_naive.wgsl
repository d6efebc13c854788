// Naive attention, one invocation per output element: it recomputes the max, the normaliser
// and the weighted sum over all keys straight from global memory. Used only by the benches, as
// the baseline the fused `attention` kernel is measured against. Same addressing as attention.wgsl.

struct Params {
    shape: vec4<u32>,
    flags: vec4<u32>,
    q: vec4<u32>,
    k: vec4<u32>,
    v: vec4<u32>,
    mask: vec4<u32>,
    mask_k: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> mask: array<T>;
@group(0) @binding(5) var<storage, read_write> out: array<T>;

fn score(qb: u32, kb: u32, mb: u32, key: u32, limit: u32) -> f32 {
    if (key >= limit) { return bitcast<f32>(0xff800000u); }
    var s = 0.0;
    for (var c = 0u; c < p.shape.z; c++) { s += f32(q[qb + c]) * f32(k[kb + key * p.k.w + c]); }
    s *= bitcast<f32>(p.flags.w);
    if (p.flags.z != 0u) { s += f32(mask[mb + key * p.mask_k.x]); }
    return s;
}

@compute @workgroup_size(256)
fn attention_naive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    let lq = p.shape.x;
    let lk = p.shape.y;
    let dv = p.shape.w;
    let heads = p.flags.x;
    let c = i % dv;
    let qi = (i / dv) % lq;
    let h = (i / (dv * lq)) % heads;
    let b = i / (dv * lq * heads);
    if (b >= p.mask_k.y) { return; }
    let qb = p.q.x + b * p.q.y + h * p.q.z + qi * p.q.w;
    let kb = p.k.x + b * p.k.y + h * p.k.z;
    let vb = p.v.x + b * p.v.y + h * p.v.z;
    let mb = p.mask.x + b * p.mask.y + h * p.mask.z + qi * p.mask.w;
    var limit = lk;
    if (p.flags.y != 0u) { limit = lk - lq + qi + 1u; }
    var m = bitcast<f32>(0xff800000u);
    for (var j = 0u; j < lk; j++) { m = max(m, score(qb, kb, mb, j, limit)); }
    var sum = 0.0;
    var acc = 0.0;
    for (var j = 0u; j < lk; j++) {
        let e = exp(score(qb, kb, mb, j, limit) - m);
        sum += e;
        acc += e * f32(v[vb + j * p.v.w + c]);
    }
    out[i] = to_T(acc / sum);
}
