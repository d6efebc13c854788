// Fused scaled-dot-product attention with an online softmax (flash-attention style): the
// lq × lk score matrix never exists in memory.
//
// A workgroup owns 64 consecutive queries of one (batch, head); invocation i owns query i and
// keeps its scaled query row, running max, running sum and output accumulator in registers.
// Keys and values stream through workgroup memory in tiles of BC rows; for each tile every
// invocation computes its BC scores (vec4 dot products), rescales its accumulator once by
// exp(old_max - new_max), and adds the tile's exp-weighted values. q/k/v are strided views
// (offset + batch/head/seq strides, last dim contiguous); the additive mask has arbitrary
// strides (0 where broadcast); `causal` lets query i see keys 0..=lk - lq + i. A query whose
// every key is masked ends with 0/0 = NaN, as PyTorch. DMAX (≥ head dims, a multiple of 4) and
// BC are chosen on the host so the two tiles fit in 16 KiB.

struct Params {
    // lq, lk, d, dv
    shape: vec4<u32>,
    // heads, causal, has_mask, scale (f32 bits)
    flags: vec4<u32>,
    // offset, batch stride, head stride, seq stride
    q: vec4<u32>,
    k: vec4<u32>,
    v: vec4<u32>,
    // offset, batch stride, head stride, query stride
    mask: vec4<u32>,
    // key stride, unused ×3
    mask_k: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> mask: array<T>;
@group(0) @binding(5) var<storage, read_write> out: array<T>;

//#if DMAX_32
const DMAX: u32 = 32u;
//#endif
//#if DMAX_64
const DMAX: u32 = 64u;
//#endif
//#if DMAX_128
const DMAX: u32 = 128u;
//#endif
//#if DMAX_256
const DMAX: u32 = 256u;
//#endif
const D4: u32 = DMAX / 4u;
const BC: u32 = 2048u / DMAX;
const BR: u32 = 64u;

var<workgroup> k_tile: array<vec4<f32>, 512>; // [BC][D4]
var<workgroup> v_tile: array<vec4<f32>, 512>;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lq = p.shape.x;
    let lk = p.shape.y;
    let d = p.shape.z;
    let dv = p.shape.w;
    let h = wid.y;
    let b = wid.z;
    let q0 = wid.x * BR;
    let qi = q0 + lid;
    let valid = qi < lq;
    let causal = p.flags.y != 0u;
    let has_mask = p.flags.z != 0u;
    let scale = bitcast<f32>(p.flags.w);
    let neg_inf = bitcast<f32>(0xff800000u);

    let q_base = p.q.x + b * p.q.y + h * p.q.z + min(qi, lq - 1u) * p.q.w;
    let k_base = p.k.x + b * p.k.y + h * p.k.z;
    let v_base = p.v.x + b * p.v.y + h * p.v.z;
    let m_base = p.mask.x + b * p.mask.y + h * p.mask.z + min(qi, lq - 1u) * p.mask.w;

    var qr: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    for (var c = 0u; c < D4; c++) {
        var x = vec4<f32>(0.0);
        for (var e = 0u; e < 4u; e++) {
            if (c * 4u + e < d) { x[e] = f32(q[q_base + c * 4u + e]) * scale; }
        }
        qr[c] = x;
        acc[c] = vec4<f32>(0.0);
    }
    var m = neg_inf;
    var l = 0.0;
    // Keys this query may see, and (uniform) the most any query of the workgroup may see.
    var limit = lk;
    var wg_limit = lk;
    if (causal) {
        limit = lk - lq + qi + 1u;
        wg_limit = min(lk, lk - lq + min(q0 + BR, lq));
    }

    for (var j0 = 0u; j0 < wg_limit; j0 += BC) {
        workgroupBarrier();
        for (var e = lid; e < BC * D4; e += BR) {
            let j = e / D4;
            let c = e % D4;
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if (j0 + j < lk) {
                for (var t = 0u; t < 4u; t++) {
                    let col = c * 4u + t;
                    if (col < d) { kx[t] = f32(k[k_base + (j0 + j) * p.k.w + col]); }
                    if (col < dv) { vx[t] = f32(v[v_base + (j0 + j) * p.v.w + col]); }
                }
            }
            k_tile[e] = kx;
            v_tile[e] = vx;
        }
        workgroupBarrier();
        if (valid) {
            var s: array<f32, BC>;
            var tile_max = neg_inf;
            for (var j = 0u; j < BC; j++) {
                let key = j0 + j;
                var x = neg_inf;
                if (key < limit && key < lk) {
                    var dot4 = vec4<f32>(0.0);
                    for (var c = 0u; c < D4; c++) { dot4 += qr[c] * k_tile[j * D4 + c]; }
                    x = dot4.x + dot4.y + dot4.z + dot4.w;
                    if (has_mask) { x += f32(mask[m_base + key * p.mask_k.x]); }
                }
                s[j] = x;
                tile_max = max(tile_max, x);
            }
            if (tile_max != neg_inf) {
                let m_new = max(m, tile_max);
                let correction = exp(m - m_new);
                l *= correction;
                for (var c = 0u; c < D4; c++) { acc[c] *= correction; }
                for (var j = 0u; j < BC; j++) {
                    let pj = exp(s[j] - m_new);
                    l += pj;
                    for (var c = 0u; c < D4; c++) { acc[c] += pj * v_tile[j * D4 + c]; }
                }
                m = m_new;
            }
        }
    }
    if (!valid) { return; }
    let inv = 1.0 / l;
    let o_base = ((b * p.flags.x + h) * lq + qi) * dv;
    for (var c = 0u; c < dv; c++) {
        out[o_base + c] = to_T(acc[c / 4u][c % 4u] * inv);
    }
}
