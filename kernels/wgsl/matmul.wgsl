// Batched tiled matmul with a fused epilogue: out[b] = act(lhs[b] · rhs[b] + bias).
//
// Each 256-invocation workgroup computes a 64×64 output tile, marching over k in steps of 16:
// both operand tiles are staged in workgroup memory (as f32, whatever the storage type), then
// every invocation accumulates a 4×4 register block from vec4 reads of the staged tiles.
// Operands are addressed through (offset, batch, row, col) strides, so transposed views (an
// nn.Linear weight) and broadcast batches (stride 0) are read in place. When an operand's
// contiguous dim, strides and offset are multiples of 4, its binding is declared as
// array<vec4<T>> (flags LHS_VEC / RHS_VEC) and each invocation fetches its share of the tile
// with one 16-byte load; the override constants LHS_T / RHS_T say which dim is contiguous.
// Outputs are written as vec4 when n is a multiple of 4 (OUT_VEC).

override LHS_T: bool;   // lhs stored column-major (contiguous along m)
override RHS_T: bool;   // rhs stored column-major (contiguous along k)
override HAS_BIAS: bool;
override ACT: u32;      // activation code from common.wgsl (0 = none)

struct Params {
    // m, n, k, batch_base
    shape: vec4<u32>,
    // offset, batch_stride, row_stride, col_stride
    lhs: vec4<u32>,
    rhs: vec4<u32>,
    // bias_offset, unused ×3
    extra: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
//#if LHS_VEC
@group(0) @binding(1) var<storage, read> lhs: array<vec4<T>>;
//#else
@group(0) @binding(1) var<storage, read> lhs: array<T>;
//#endif
//#if RHS_VEC
@group(0) @binding(2) var<storage, read> rhs: array<vec4<T>>;
//#else
@group(0) @binding(2) var<storage, read> rhs: array<T>;
//#endif
@group(0) @binding(3) var<storage, read> bias: array<T>;
//#if OUT_VEC
@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;
//#else
@group(0) @binding(4) var<storage, read_write> out: array<T>;
//#endif

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// [BK][BM/4] and [BK][BN/4] tiles of vec4s.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

fn lhs_at(e: u32) -> f32 {
//#if LHS_VEC
    return f32(lhs[e >> 2u][e & 3u]);
//#else
    return f32(lhs[e]);
//#endif
}

fn rhs_at(e: u32) -> f32 {
//#if RHS_VEC
    return f32(rhs[e >> 2u][e & 3u]);
//#else
    return f32(rhs[e]);
//#endif
}

fn load_a_tile(base: u32, m0: u32, k0: u32, t: u32) {
    let m = p.shape.x;
    let k = p.shape.z;
//#if LHS_VEC
    if (LHS_T) {
        // Contiguous along m: one vec4 = 4 rows of one k.
        let kk = t / 16u;
        let mq = (t % 16u) * 4u;
        var v = vec4<f32>(0.0);
        if (m0 + mq < m && k0 + kk < k) {
            v = vec4<f32>(lhs[(base + (m0 + mq) + (k0 + kk) * p.lhs.w) >> 2u]);
        }
        a_tile[kk * 16u + t % 16u] = v;
    } else {
        // Contiguous along k: one vec4 = 4 ks of one row, scattered into the k-major tile.
        let r = t / 4u;
        let kq = (t % 4u) * 4u;
        var v = vec4<f32>(0.0);
        if (m0 + r < m && k0 + kq < k) {
            v = vec4<f32>(lhs[(base + (m0 + r) * p.lhs.z + k0 + kq) >> 2u]);
        }
        for (var c = 0u; c < 4u; c++) {
            a_tile[(kq + c) * 16u + r / 4u][r % 4u] = v[c];
        }
    }
//#else
    for (var c = 0u; c < 4u; c++) {
        let e = t + c * 256u;
        var r: u32;
        var kk: u32;
        if (LHS_T) { r = e % BM; kk = e / BM; } else { r = e / BK; kk = e % BK; }
        var v = 0.0;
        if (m0 + r < m && k0 + kk < k) {
            v = lhs_at(base + (m0 + r) * p.lhs.z + (k0 + kk) * p.lhs.w);
        }
        a_tile[kk * 16u + r / 4u][r % 4u] = v;
    }
//#endif
}

fn load_b_tile(base: u32, n0: u32, k0: u32, t: u32) {
    let n = p.shape.y;
    let k = p.shape.z;
//#if RHS_VEC
    if (RHS_T) {
        // Contiguous along k (an nn.Linear weight): one vec4 = 4 ks of one column.
        let c0 = t / 4u;
        let kq = (t % 4u) * 4u;
        var v = vec4<f32>(0.0);
        if (n0 + c0 < n && k0 + kq < k) {
            v = vec4<f32>(rhs[(base + (n0 + c0) * p.rhs.w + k0 + kq) >> 2u]);
        }
        for (var c = 0u; c < 4u; c++) {
            b_tile[(kq + c) * 16u + c0 / 4u][c0 % 4u] = v[c];
        }
    } else {
        // Contiguous along n: one vec4 = 4 columns of one k.
        let kk = t / 16u;
        let nq = (t % 16u) * 4u;
        var v = vec4<f32>(0.0);
        if (n0 + nq < n && k0 + kk < k) {
            v = vec4<f32>(rhs[(base + (k0 + kk) * p.rhs.z + n0 + nq) >> 2u]);
        }
        b_tile[kk * 16u + t % 16u] = v;
    }
//#else
    for (var c = 0u; c < 4u; c++) {
        let e = t + c * 256u;
        var col: u32;
        var kk: u32;
        if (RHS_T) { col = e / BK; kk = e % BK; } else { col = e % BN; kk = e / BN; }
        var v = 0.0;
        if (n0 + col < n && k0 + kk < k) {
            v = rhs_at(base + (k0 + kk) * p.rhs.z + (n0 + col) * p.rhs.w);
        }
        b_tile[kk * 16u + col / 4u][col % 4u] = v;
    }
//#endif
}

fn epilogue(x: f32, col: u32) -> f32 {
    var v = x;
    if (HAS_BIAS) { v += f32(bias[p.extra.x + col]); }
    if (ACT != 0u) { v = apply_unary(ACT, v, 1.0, 0.0); }
    return v;
}

@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let m = p.shape.x;
    let n = p.shape.y;
    let k = p.shape.z;
    let b = p.shape.w + wid.z;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let tx = t % 16u;
    let ty = t / 16u;
    let a_base = p.lhs.x + b * p.lhs.y;
    let b_base = p.rhs.x + b * p.rhs.y;
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var k0 = 0u; k0 < k; k0 += BK) {
        load_a_tile(a_base, m0, k0, t);
        load_b_tile(b_base, n0, k0, t);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = a_tile[kk * 16u + ty];
            let bv = b_tile[kk * 16u + tx];
            acc[0] += a.x * bv;
            acc[1] += a.y * bv;
            acc[2] += a.z * bv;
            acc[3] += a.w * bv;
        }
        workgroupBarrier();
    }
    let col = n0 + tx * 4u;
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + ty * 4u + i;
        if (row >= m || col >= n) { continue; }
        let o = (b * m + row) * n + col;
//#if OUT_VEC
        out[o >> 2u] = vec4<T>(to_T(epilogue(acc[i].x, col)), to_T(epilogue(acc[i].y, col + 1u)),
                               to_T(epilogue(acc[i].z, col + 2u)), to_T(epilogue(acc[i].w, col + 3u)));
//#else
        for (var j = 0u; j < 4u; j++) {
            if (col + j < n) { out[o + j] = to_T(epilogue(acc[i][j], col + j)); }
        }
//#endif
    }
}
