// Dtype conversion with Rust `as` semantics: float→int truncates toward zero and saturates
// (NaN → 0); int→float rounds to nearest even; float→half rounds to nearest. `S`/`D` are the
// source/destination storage types; the SRC_*/DST_* flags say how to read them.

struct Params {
    // n, src_offset, unused, unused
    head: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<D>;

fn neg64(v: vec2<u32>) -> vec2<u32> {
    let lo = ~v.x + 1u;
    return vec2<u32>(lo, ~v.y + select(0u, 1u, lo == 0u));
}

// Unsigned 64-bit magnitude → f32, correctly rounded (nearest, ties to even).
fn u64_to_f32(v: vec2<u32>) -> f32 {
    var lo = v.x;
    var hi = v.y;
    var exp_adj = 0i;
    if (hi == 0u) {
        if (lo < 16777216u) { return f32(lo); }
        hi = lo;
        lo = 0u;
        exp_adj = -32i;
    }
    let lz = countLeadingZeros(hi);
    var nh = hi;
    var nl = lo;
    if (lz > 0u) {
        nh = (hi << lz) | (lo >> (32u - lz));
        nl = lo << lz;
    }
    var m = nh >> 8u;
    let guard = (nh >> 7u) & 1u;
    let sticky = ((nh & 0x7fu) != 0u) || (nl != 0u);
    if (guard == 1u && (sticky || (m & 1u) == 1u)) {
        m += 1u;
    }
    return ldexp(f32(m), 40i - i32(lz) + exp_adj);
}

fn i64_to_f32(v: vec2<u32>) -> f32 {
    if ((v.y & 0x80000000u) != 0u) {
        return -u64_to_f32(neg64(v));
    }
    return u64_to_f32(v);
}

fn f32_to_u32(x: f32) -> u32 {
    if (!(x > 0.0)) { return 0u; }
    if (x >= 4294967296.0) { return 0xffffffffu; }
    return u32(x);
}

fn f32_to_i64(x: f32) -> vec2<u32> {
    if (is_nan(x)) { return vec2<u32>(0u, 0u); }
    let a = abs(x);
    if (a >= 9223372036854775808.0) {
        return select(vec2<u32>(0xffffffffu, 0x7fffffffu), vec2<u32>(0u, 0x80000000u), x < 0.0);
    }
    var r = vec2<u32>(0u, 0u);
    if (a >= 4294967296.0) {
        let h = floor(a / 4294967296.0);
        r = vec2<u32>(u32(a - h * 4294967296.0), u32(h));
    } else {
        r = vec2<u32>(u32(a), 0u);
    }
    return select(r, neg64(r), x < 0.0);
}

@compute @workgroup_size(256)
fn cast_elements(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.head.x) { return; }
    let s = src[p.head.y + i];
//#if SRC_FLOAT
    let x = f32(s);
//#endif
//#if SRC_U32
    let x = u64_to_f32(vec2<u32>(s, 0u));
//#endif
//#if SRC_I64
    let x = i64_to_f32(s);
//#endif
//#if DST_FLOAT
    dst[i] = to_D(x);
//#endif
//#if DST_U32
//#if SRC_I64
    dst[i] = s.x;
//#else
    dst[i] = f32_to_u32(x);
//#endif
//#endif
//#if DST_I64
//#if SRC_U32
    dst[i] = vec2<u32>(s, 0u);
//#else
    dst[i] = f32_to_i64(x);
//#endif
//#endif
}
