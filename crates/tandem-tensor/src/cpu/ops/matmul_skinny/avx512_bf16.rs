//! The skinny kernel for bf16 activations times bf16 weights: `VDPBF16PS` (AVX512-BF16: AMD
//! Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later).
//!
//! In a bf16 model every activation is already bf16 in storage, so the rows can be dotted as
//! stored: one instruction multiplies 32 bf16 pairs of a row and a weight row and adds them
//! into 16 f32 lanes (each product of two bf16 is exact in f32), where the AVX2 kernel widens
//! both operands to f32 first (`vpmovzxwd` + `vpslld`, 8 lanes per instruction) and issues one
//! FMA per 8 products. The result is an f32 dot product of the same bf16 values, up to
//! summation order, except that the instruction treats subnormal bf16 inputs (|x| < 1.2e-38)
//! as zero and flushes subnormal results (Intel SDM, VDPBF16PS: "DAZ, FTZ, RNE, SAE"
//! regardless of MXCSR), as the bf16 GEMM kernels do.
//!
//! Register tile: [`TILE_ROWS`] rows × [`TILE_COLS`] weight rows, 16 zmm accumulators; per 32
//! depths it loads 4 weight and 4 row vectors for 16 instructions. The depth tail is a masked
//! load (zeros beyond `k` add nothing), so any `k` runs in one loop.

use half::bf16;
use std::arch::x86_64::*;

/// bf16 elements of one 512-bit register.
const LANES: usize = 32;
/// Rows and weight rows of one register tile.
const TILE_ROWS: usize = 4;
const TILE_COLS: usize = 4;

/// Whether the CPU runs this kernel (`VDPBF16PS`, and AVX512-BW for the masked 16-bit loads).
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// `out[j·m + i] = rows[i] · ws[j]` (f32 accumulation) for every row `i < m = rows.len()` and
/// weight row `j`, as [`super::Kernel`] states.
///
/// # Panics
/// When the CPU lacks the instructions, the rows and weight rows differ in length, or `out`
/// has fewer than `m · ws.len()` entries.
pub fn dots(rows: &[&[bf16]], ws: &[&[bf16]], out: &mut [f32]) {
    super::check(rows, ws, out, available());
    // SAFETY: `check` established the features and the lengths `tile` reads.
    unsafe { dots_inner(rows, ws, out) }
}

/// 32 bf16 from `p`, lanes outside `mask` zero (and not read).
///
/// # Safety
/// AVX512-BW must be available; the lanes in `mask` must be readable.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn load(p: *const bf16, mask: __mmask32) -> __m512bh {
    std::mem::transmute(_mm512_maskz_loadu_epi16(mask, p.cast()))
}

/// One depth step of the `R × C` tile: 32 depths from `p`, lanes outside `mask` zero; when
/// `PF`, also prefetches the same depths of the `ahead` weight rows.
///
/// # Safety
/// As [`tile`]; the lanes in `mask` from `p` are inside every row.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn step<const R: usize, const C: usize, const PF: bool>(
    acc: &mut [[__m512; C]; R],
    (a_ptr, w_ptr, ahead): (&[*const bf16; R], &[*const bf16; C], &[*const bf16; C]),
    p: usize,
    mask: __mmask32,
) {
    let wv: [__m512bh; C] = std::array::from_fn(|c| load(w_ptr[c].add(p), mask));
    if PF {
        for line in ahead {
            _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(p).cast());
        }
    }
    for r in 0..R {
        let a = load(a_ptr[r].add(p), mask);
        for c in 0..C {
            acc[r][c] = _mm512_dpbf16_ps(acc[r][c], a, wv[c]);
        }
    }
}

/// `out[c·m + r] = rows[r] · ws[c]` for `r < R`, `c < C`: one `R × C` register tile; when
/// `PF`, the pass also prefetches the `ahead` weight rows (see [`tile_column`]).
///
/// # Safety
/// [`available`]; `rows` has at least `R` and `ws` at least `C` entries, all of the same length;
/// `out` holds `(C - 1)·m + R` entries.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn tile<const R: usize, const C: usize, const PF: bool>(
    rows: &[&[bf16]],
    ws: &[&[bf16]],
    out: &mut [f32],
    m: usize,
    ahead: &[*const bf16; C],
) {
    let k = ws[0].len();
    // Pointers in fixed-size arrays and loops of constant trip counts, so that the tile
    // unrolls into registers (zipping with the slices, and a mask computed in the main loop,
    // left a length test and accumulators spilled to the stack).
    let w_ptr: [*const bf16; C] = std::array::from_fn(|c| ws[c].as_ptr());
    let a_ptr: [*const bf16; R] = std::array::from_fn(|r| rows[r].as_ptr());
    let mut acc = [[_mm512_setzero_ps(); C]; R];
    let full = k - k % LANES;
    let mut p = 0;
    while p < full {
        step::<R, C, PF>(&mut acc, (&a_ptr, &w_ptr, ahead), p, !0);
        p += LANES;
    }
    if full < k {
        let mask = (1u32 << (k - full)) - 1;
        step::<R, C, PF>(&mut acc, (&a_ptr, &w_ptr, ahead), full, mask);
    }
    if R == 4 && C == 4 {
        store_4x4(&acc, out, m);
        return;
    }
    for (r, acc_r) in acc.iter().enumerate() {
        for (c, &acc_rc) in acc_r.iter().enumerate() {
            out[c * m + r] = _mm512_reduce_add_ps(acc_rc);
        }
    }
}

/// Sums each of the 4 × 4 accumulators of a full tile and stores `out[c·m + r]`, with one
/// reduction tree for all sixteen instead of a horizontal sum each (`_mm512_reduce_add_ps`
/// is about 8 dependent shuffles and adds: 128 instructions per tile against about 50 here).
/// At attention's head size (k = 64: two depth steps) the separate sums were most of the
/// tile's work. The sums group the lanes differently from `_mm512_reduce_add_ps` (f32 addition
/// reassociated, nothing else).
///
/// # Safety
/// AVX-512F; `R == C == 4` (checked by the caller); `out` holds `3·m + 4` entries.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_4x4<const R: usize, const C: usize>(
    acc: &[[__m512; C]; R],
    out: &mut [f32],
    m: usize,
) {
    // v[c], per 128-bit lane L: the sums over L's four elements of acc[0..4][c].
    let v: [__m512; 4] = std::array::from_fn(|c| {
        let (a0, a1, a2, a3) = (acc[0][c], acc[1][c], acc[2][c], acc[3][c]);
        let s01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
        let s23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
        let (d01, d23) = (_mm512_castps_pd(s01), _mm512_castps_pd(s23));
        _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(d01, d23)),
            _mm512_castpd_ps(_mm512_unpackhi_pd(d01, d23)),
        )
    });
    // Across the four 128-bit lanes: lane c of `q` holds the totals of column c, rows 0..4.
    let p01 = _mm512_add_ps(
        _mm512_shuffle_f32x4::<0b01_00_01_00>(v[0], v[1]),
        _mm512_shuffle_f32x4::<0b11_10_11_10>(v[0], v[1]),
    );
    let p23 = _mm512_add_ps(
        _mm512_shuffle_f32x4::<0b01_00_01_00>(v[2], v[3]),
        _mm512_shuffle_f32x4::<0b11_10_11_10>(v[2], v[3]),
    );
    let q = _mm512_add_ps(
        _mm512_shuffle_f32x4::<0b10_00_10_00>(p01, p23),
        _mm512_shuffle_f32x4::<0b11_01_11_01>(p01, p23),
    );
    let lanes: [__m128; 4] = [
        _mm512_extractf32x4_ps::<0>(q),
        _mm512_extractf32x4_ps::<1>(q),
        _mm512_extractf32x4_ps::<2>(q),
        _mm512_extractf32x4_ps::<3>(q),
    ];
    for (c, lane) in lanes.into_iter().enumerate() {
        _mm_storeu_ps(out[c * m..][..4].as_mut_ptr(), lane);
    }
}

/// Every row against the `C` weight rows of `ws`: tiles of [`TILE_ROWS`] rows, then one tile
/// of the remainder. The `C` weight rows (at most 24 KiB at k = 3072) stay in L1 while the row
/// tiles pass over them, so each weight is read from memory once per call.
///
/// At decode sizes the weights come from DRAM (245 MB per BLIP step) and the loads of a tile's
/// first pass stalled the loop (perf: most samples on them), so that pass also prefetches the
/// same depths of `next`, the weight rows of the following column tile: one line per row per
/// 32 depths, in flight while this tile computes.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn tile_column<const C: usize>(
    rows: &[&[bf16]],
    ws: &[&[bf16]],
    next: &[&[bf16]],
    out: &mut [f32],
) {
    let m = rows.len();
    // Rows past the last tile prefetch the current ones again (already cached).
    let ahead: [*const bf16; C] = std::array::from_fn(|c| next.get(c).unwrap_or(&ws[c]).as_ptr());
    let mut i = 0;
    while i < m {
        let (r, o) = (&rows[i..], &mut out[i..]);
        // The first row tile prefetches, the others find the weights in L1.
        i += if i == 0 {
            row_tile::<C, true>(r, ws, o, m, &ahead)
        } else {
            row_tile::<C, false>(r, ws, o, m, &ahead)
        };
    }
}

/// The next row tile of [`tile_column`]: [`TILE_ROWS`] rows of `rows`, or all of them when
/// fewer remain. Returns the rows it took.
///
/// # Safety
/// As [`tile`], with `rows` non-empty.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn row_tile<const C: usize, const PF: bool>(
    rows: &[&[bf16]],
    ws: &[&[bf16]],
    out: &mut [f32],
    m: usize,
    ahead: &[*const bf16; C],
) -> usize {
    match rows.len() {
        1 => tile::<1, C, PF>(rows, ws, out, m, ahead),
        2 => tile::<2, C, PF>(rows, ws, out, m, ahead),
        3 => tile::<3, C, PF>(rows, ws, out, m, ahead),
        _ => tile::<TILE_ROWS, C, PF>(rows, ws, out, m, ahead),
    }
    rows.len().min(TILE_ROWS)
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn dots_inner(rows: &[&[bf16]], ws: &[&[bf16]], out: &mut [f32]) {
    let m = rows.len();
    let mut j = 0;
    while j < ws.len() {
        let (o, left) = (&mut out[j * m..], ws.len() - j);
        let c = match left {
            1..=3 => left,
            _ => TILE_COLS,
        };
        let (w, next) = (&ws[j..j + c], &ws[j + c..]);
        match c {
            1 => tile_column::<1>(rows, w, next, o),
            2 => tile_column::<2>(rows, w, next, o),
            3 => tile_column::<3>(rows, w, next, o),
            _ => tile_column::<TILE_COLS>(rows, w, next, o),
        }
        j += c;
    }
}
