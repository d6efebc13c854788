//! The optimised kernels at shapes the conformance suite's small problems do not reach: matmul
//! tiles with ragged edges through every vec4/transpose specialisation, batched and broadcast,
//! with the fused epilogue; fused attention over many key tiles, with masks, causal KV-cache
//! shapes and each head-dim bucket; long-row reductions. Compared with the CPU backend.

mod common;

use common::{assert_close, gpu, pair, tol};
use tandem_tensor::{attention, Activation, AttentionSpec, DType, Tensor};
use tandem_tensor_testing::close::{gamma, probabilities, unit_roundoff};
use tandem_tensor_testing::{assert_row_sums, assert_tensor_close, Close};

#[test]
fn matmul_tiles_transposes_and_epilogue() {
    // (m, k, n): multiples of 4 (vec4 paths), ragged (scalar paths), 1-row, tile-crossing.
    let shapes = [
        (130, 68, 72),
        (67, 33, 45),
        (1, 64, 96),
        (64, 16, 64),
        (129, 257, 5),
    ];
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            let s = i as u64 * 10;
            let (ca, ga) = pair(s, &[m, k], dtype);
            let (cb, gb) = pair(s + 1, &[k, n], dtype);
            let (cbt, gbt) = pair(s + 2, &[n, k], dtype); // nn.Linear weight
            let (cat, gat) = pair(s + 3, &[k, m], dtype); // lhs stored transposed
            let (cbias, gbias) = pair(s + 4, &[n], dtype);
            let what = format!("{dtype} {m}x{k}x{n}");
            let t = tol(dtype);
            assert_close(
                &format!("{what} plain"),
                &ga.matmul(&gb).unwrap(),
                &ca.matmul(&cb).unwrap(),
                t,
            );
            assert_close(
                &format!("{what} linear+bias+gelu"),
                &ga.linear(&gbt, Some(&gbias), Some(Activation::Gelu))
                    .unwrap(),
                &ca.linear(&cbt, Some(&cbias), Some(Activation::Gelu))
                    .unwrap(),
                t,
            );
            assert_close(
                &format!("{what} lhsT·rhsT"),
                &gat.transpose(0, 1)
                    .unwrap()
                    .matmul(&gbt.transpose(0, 1).unwrap())
                    .unwrap(),
                &cat.transpose(0, 1)
                    .unwrap()
                    .matmul(&cbt.transpose(0, 1).unwrap())
                    .unwrap(),
                t,
            );
        }
    }
}

#[test]
fn batched_matmul_with_broadcast_weight() {
    let (ca, ga) = pair(1, &[3, 2, 37, 20], DType::F32);
    let (cw, gw) = pair(2, &[20, 44], DType::F32);
    assert_close(
        "batched",
        &ga.matmul(&gw).unwrap(),
        &ca.matmul(&cw).unwrap(),
        tol(DType::F32),
    );
    let (cb, gb) = pair(3, &[3, 2, 20, 9], DType::F32);
    assert_close(
        "per-batch",
        &ga.matmul(&gb).unwrap(),
        &ca.matmul(&cb).unwrap(),
        tol(DType::F32),
    );
}

#[test]
fn fused_attention_over_many_tiles() {
    // (b, h, lq, lk, d, causal, mask): encoder, decoder step with a cache, ragged queries.
    let cases = [
        (2, 3, 70, 70, 64, false, true),
        (1, 2, 3, 150, 64, true, false),
        (1, 1, 130, 130, 32, true, true),
        (1, 2, 17, 40, 80, false, false),
        (1, 1, 9, 33, 128, true, false),
        (1, 1, 5, 20, 200, false, true),
        (1, 1, 4, 12, 300, false, false), // past the fused kernel's registers: composite path
    ];
    for dtype in [DType::F32, DType::F16] {
        for (i, &(b, h, lq, lk, d, causal, masked)) in cases.iter().enumerate() {
            let s = 100 + i as u64 * 10;
            let (cq, gq) = pair(s, &[b, h, lq, d], dtype);
            // K/V as strided views: heads permuted out of [b, lk, h, d], one batch shared.
            let (ck, gk) = pair(s + 1, &[1, lk, h, d], dtype);
            let (cv, gv) = pair(s + 2, &[1, lk, h, d], dtype);
            let (cm, gm) = pair(s + 3, &[b, 1, 1, lk], dtype);
            let spec = AttentionSpec {
                scale: 1.0 / (d as f32).sqrt(),
                causal,
            };
            let (ck, gk) = (
                ck.permute(&[0, 2, 1, 3]).unwrap(),
                gk.permute(&[0, 2, 1, 3]).unwrap(),
            );
            let (cv, gv) = (
                cv.permute(&[0, 2, 1, 3]).unwrap(),
                gv.permute(&[0, 2, 1, 3]).unwrap(),
            );
            let (cm, gm) = if masked {
                (Some(cm), Some(gm))
            } else {
                (None, None)
            };
            let want = attention(&cq, &ck, &cv, cm.as_ref(), spec).unwrap();
            let got = attention(&gq, &gk, &gv, gm.as_ref(), spec).unwrap();
            assert_close(
                &format!("{dtype} attention case {i}"),
                &got,
                &want,
                tol(dtype),
            );
        }
    }
}

#[test]
fn fully_masked_query_is_nan_like_pytorch() {
    let g = gpu();
    let q = Tensor::from_slice(&g, &[1.0f32, 0.0], &[1, 1, 1, 2]).unwrap();
    let k = Tensor::from_slice(&g, &[1.0f32, 0.0, 0.0, 1.0], &[1, 1, 2, 2]).unwrap();
    let mask = Tensor::from_slice(&g, &[f32::NEG_INFINITY; 2], &[1, 1, 1, 2]).unwrap();
    let o = attention(
        &q,
        &k,
        &k,
        Some(&mask),
        AttentionSpec {
            scale: 1.0,
            causal: false,
        },
    )
    .unwrap();
    assert!(o.to_vec::<f32>().unwrap().iter().all(|x| x.is_nan()));
}

#[test]
fn long_rows_reduce_normalise_and_rank() {
    let n = 5000;
    for dtype in [DType::F32, DType::BF16] {
        let (c, g) = pair(7, &[3, n], dtype);
        let t = tol(dtype);
        // Probabilities of a 5000-wide row are ~2e-4: an absolute tolerance would pass a
        // normaliser 20% off (f32) or all zeros (bf16). Relative, derived from the dtype and
        // the row length (see `probabilities`), plus every row summing to 1.
        let p_tol = probabilities(dtype, n);
        let want = c.softmax(None, false).unwrap().to_vec_f32().unwrap();
        let got = g.softmax(None, false).unwrap();
        assert_tensor_close("softmax", &got, &[3, n], &want, p_tol);
        assert_row_sums("softmax", &[3, n], &got.to_vec_f32().unwrap(), p_tol.rel);
        // log p = x − m − log Z: log Z carries Z's relative error (γ_n(u32)) as an absolute
        // one; each side then rounds the output to `dtype` (2·u_dtype relative between them).
        let u32_ = unit_roundoff(DType::F32);
        let log_tol = Close::new(
            2.0 * (gamma(n, u32_) + 8.0 * u32_),
            2.0 * unit_roundoff(dtype),
        );
        assert_close(
            "log_softmax",
            &g.log_softmax().unwrap(),
            &c.log_softmax().unwrap(),
            log_tol,
        );
        // A sum of 5000 values in [-1, 1): two f32 summation orders differ by about
        // √n·u32·Σ|x| ≈ 70·6e-8·2500 ≈ 1e-5 (typical), under 1e-3 absolute; then one rounding
        // to `dtype` per side: 2·u_dtype relative.
        assert_close(
            "sum",
            &g.sum_last().unwrap(),
            &c.sum_last().unwrap(),
            Close::new(1e-3, 2.0 * unit_roundoff(dtype)),
        );
        let (cg, gg) = pair(8, &[n], dtype);
        let (cb, gb) = pair(9, &[n], dtype);
        assert_close(
            "layer_norm",
            &g.layer_norm(&gg, &gb, 1e-5).unwrap(),
            &c.layer_norm(&cg, &cb, 1e-5).unwrap(),
            t,
        );
        assert_eq!(
            g.argmax_last().unwrap().to_vec::<u32>().unwrap(),
            c.argmax_last().unwrap().to_vec::<u32>().unwrap()
        );
        let (gv, gi) = g.topk_last(7).unwrap();
        let (cv, ci) = c.topk_last(7).unwrap();
        assert_eq!(gi.to_vec::<u32>().unwrap(), ci.to_vec::<u32>().unwrap());
        assert_close("topk values", &gv, &cv, Close::abs(0.0));
    }
}

/// The long-row softmax check can fail: the CPU result with its normaliser 20% off, or all
/// zeros, is rejected in both dtypes (with the former absolute tolerance both passed).
#[test]
fn long_row_softmax_check_sees_a_wrong_normaliser_and_zeros() {
    let n = 5000;
    for dtype in [DType::F32, DType::BF16] {
        let (c, _) = pair(7, &[3, n], dtype);
        let want = c.softmax(None, false).unwrap().to_vec_f32().unwrap();
        let p_tol = probabilities(dtype, n);
        for (bug, got) in [
            (
                "normaliser 20% off",
                want.iter().map(|p| p / 1.2).collect::<Vec<f32>>(),
            ),
            ("all zeros", vec![0f32; want.len()]),
        ] {
            let close =
                tandem_tensor_testing::check_close(bug, &[3, n], &got, &[3, n], &want, p_tol);
            let sums = tandem_tensor_testing::check_row_sums(bug, &[3, n], &got, p_tol.rel);
            assert!(close.is_err() && sums.is_err(), "{dtype} {bug} passed");
        }
    }
}
