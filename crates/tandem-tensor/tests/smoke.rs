//! Hand-checked values for the CPU backend's basic ops (the exhaustive checks are the
//! conformance suite's proptests).

use tandem_tensor::{attention, AttentionSpec, CpuBackend, DType, Error, Tensor};

fn t(data: &[f32], dims: &[usize]) -> Tensor<CpuBackend> {
    Tensor::from_slice(&CpuBackend, data, dims).unwrap()
}

#[test]
fn matmul_with_transposed_views_and_bias() {
    let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let b = t(&[1., 0., 0., 1., 1., 1.], &[3, 2]);
    assert_eq!(
        a.matmul(&b).unwrap().to_vec::<f32>().unwrap(),
        vec![4., 5., 10., 11.]
    );
    // aᵀ·a through a transposed view: no copy, same answer as the explicit product.
    let at = a.transpose(0, 1).unwrap();
    let got = at.matmul(&a).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(got, vec![17., 22., 27., 22., 29., 36., 27., 36., 45.]);
    let w = t(&[1., 0., 0., 0., 1., 0.], &[2, 3]); // nn.Linear weight [out=2, in=3]
    let bias = t(&[10., -10.], &[2]);
    let y = a
        .linear(&w, Some(&bias), None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(y, vec![11., -8., 14., -5.]);
}

#[test]
fn softmax_causal_and_attention_agree_with_hand_values() {
    let x = t(&[0., 0., 0., 0.], &[2, 2]);
    let p = x.softmax(None, true).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(p, vec![1., 0., 0.5, 0.5]);
    let q = t(&[1., 0.], &[1, 1, 1, 2]);
    let k = t(&[1., 0., 0., 1.], &[1, 1, 2, 2]);
    let v = t(&[1., 2., 3., 4.], &[1, 1, 2, 2]);
    let o = attention(
        &q,
        &k,
        &v,
        None,
        AttentionSpec {
            scale: 0.0,
            causal: false,
        },
    )
    .unwrap();
    assert_eq!(o.to_vec::<f32>().unwrap(), vec![2., 3.]);
}

/// CI seed 1796061482631209221 found it: in f16, a one-element row `[-5.1e-4]` normalised to
/// -1.0449 because its square (2.6e-7) is an f16 subnormal. F.normalize gives exactly ±1 for a
/// one-element row, and unit length for rows of tiny values, in every dtype.
#[test]
fn l2_normalize_of_tiny_values_is_unit_length_in_every_dtype() {
    let tiny = [-0.000_510_215_76f32, 0.003, -0.000_07, 0.002_4];
    for dtype in DType::FLOATS {
        let x = t(&tiny, &[4, 1]).to_dtype(dtype).unwrap();
        let y = x.l2_normalize(1e-12).unwrap().to_dtype(DType::F32).unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![-1., 1., -1., 1.],
            "{dtype}"
        );
        let row = t(&tiny, &[1, 4]).to_dtype(dtype).unwrap();
        let y = row
            .l2_normalize(1e-12)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let y = y.to_vec::<f32>().unwrap();
        let norm = y.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 4e-3, "{dtype}: ‖y‖ = {norm}");
    }
}

/// The fused residual + layer norm returns exactly `add` then `layer_norm` (bit for bit) in
/// every float dtype: the sum as the dtype stores it, and the norm of that stored sum. Values
/// near 20 make a bf16 sum round by up to 0.06, so normalising the unrounded sum is visible;
/// the rows are long enough to run in parallel chunks and one sits behind a view offset.
#[test]
fn add_layer_norm_is_add_then_layer_norm_bit_for_bit() {
    let (rows, cols) = (37, 300);
    let wave = |k: usize, f: f32| -> Vec<f32> {
        (0..k)
            .map(|i| ((i as f32 * f).sin() * 2.0) + 20.0)
            .collect()
    };
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let up = |v: Vec<f32>, dims: &[usize]| t(&v, dims).to_dtype(dtype).unwrap();
        // `x` is rows 1.. of a larger tensor: a contiguous view with an offset.
        let x = up(wave((rows + 1) * cols, 0.37), &[rows + 1, cols])
            .narrow(0, 1, rows)
            .unwrap();
        let r = up(wave(rows * cols, 0.11), &[rows, cols])
            .affine(0.01, -0.2)
            .unwrap();
        let g = up(wave(cols, 0.5), &[cols]).affine(0.05, 0.0).unwrap();
        let b = up(wave(cols, 0.3), &[cols]).affine(0.01, -0.2).unwrap();
        let (sum, normed) = x.add_layer_norm(&r, &g, &b, 1e-5).unwrap();
        let want_sum = x.add(&r).unwrap();
        let want_normed = want_sum.layer_norm(&g, &b, 1e-5).unwrap();
        assert_eq!(sum.dims(), &[rows, cols]);
        assert_eq!(sum.dtype(), dtype);
        assert_eq!(normed.dtype(), dtype);
        let bits = |t: &Tensor<CpuBackend>| -> Vec<u32> {
            t.to_dtype(DType::F32)
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        for (what, got, want) in [("sum", &sum, &want_sum), ("normed", &normed, &want_normed)] {
            let (got, want) = (bits(got), bits(want));
            assert_eq!(got.len(), want.len(), "{dtype} {what}: length");
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "{dtype} {what}: element {i} is {} fused, {} unfused",
                    f32::from_bits(got[i]),
                    f32::from_bits(want[i])
                );
            }
        }
    }
}

#[test]
fn layer_norm_and_reductions() {
    let x = t(&[1., 2., 3., 4.], &[1, 4]);
    let g = t(&[1.; 4], &[4]);
    let b = t(&[0.; 4], &[4]);
    let y = x.layer_norm(&g, &b, 0.0).unwrap().to_vec::<f32>().unwrap();
    // (x − 2.5) / √1.25, exact to f64; f32 mean, variance and rsqrt over 4 values: a few ulps.
    let expected = [-1.3416408f32, -0.4472136, 0.4472136, 1.3416408];
    tandem_tensor_testing::assert_close_slices(
        "layer_norm",
        &y,
        &expected,
        tandem_tensor_testing::Close::abs(1e-6),
    );
    assert_eq!(x.argmax_last().unwrap().to_vec::<u32>().unwrap(), vec![3]);
    let (v, i) = x.topk_last(2).unwrap();
    assert_eq!(
        (v.to_vec::<f32>().unwrap(), i.to_vec::<u32>().unwrap()),
        (vec![4., 3.], vec![3, 2])
    );
}

#[test]
fn shape_and_dtype_mistakes_are_errors() {
    let a = t(&[1., 2., 3.], &[1, 3]);
    assert!(matches!(
        a.matmul(&a),
        Err(Error::ShapeMismatch { op: "matmul", .. })
    ));
    let ids = Tensor::from_slice(&CpuBackend, &[5u32], &[1]).unwrap();
    assert!(matches!(
        a.index_select(1, &ids),
        Err(Error::IndexOutOfRange { .. })
    ));
    let h = a.to_dtype(DType::F16).unwrap();
    assert!(matches!(a.add(&h), Err(Error::DTypeMismatch { .. })));
}

/// A layout built by hand (`Tensor::from_shared`) that addresses past its storage must fail
/// cleanly in matmul, before any kernel reads out of bounds: left or right operand, f32 (gemm)
/// and bf16 weights (the skinny kernel's path).
#[test]
fn matmul_refuses_operands_that_address_past_their_storage() {
    use std::sync::Arc;
    use tandem_tensor::cpu::CpuStorage;
    use tandem_tensor::Layout;
    let short = |dims: &[usize], len: usize, dtype: DType| {
        let storage = CpuStorage::from_f32(vec![1.0; len], dtype);
        Tensor::from_shared(
            Arc::new(storage),
            Layout::contiguous(dims),
            dtype,
            CpuBackend,
        )
    };
    for dtype in [DType::F32, DType::BF16] {
        let a = t(&[1.0; 8], &[2, 4]).to_dtype(dtype).unwrap();
        // `nn.Linear` weight [3, 4] over 11 of its 12 elements.
        let w = short(&[3, 4], 11, dtype);
        let err = a.linear(&w, None, None).expect_err("short weight");
        assert!(
            matches!(err, Error::InvalidArgument { op: "matmul", .. }),
            "{dtype}: {err}"
        );
        assert!(err.to_string().contains("right operand"), "{err}");
        let a_short = short(&[2, 4], 7, dtype);
        let w_ok = t(&[1.0; 12], &[3, 4]).to_dtype(dtype).unwrap();
        let err = a_short.linear(&w_ok, None, None).expect_err("short input");
        assert!(err.to_string().contains("left operand"), "{dtype}: {err}");
        // Batched: the second matrix of [2, 2, 4] ends one element past a storage of 15.
        let batched = short(&[2, 2, 4], 15, dtype);
        let rhs = t(&[1.0; 8], &[4, 2]).to_dtype(dtype).unwrap();
        let err = batched.matmul(&rhs).expect_err("short batch");
        assert!(err.to_string().contains("left operand"), "{dtype}: {err}");
    }
}

/// `linear` with bias and GELU on bf16 operands at a decode shape (4 rows: the skinny bf16
/// kernel on x86-64 with AVX2) against f64 on the same bf16 values. Tolerance: the result is
/// rounded once to bf16 (relative 2⁻⁸); the f32 dot products of length 40 and the vectorised
/// GELU add well under 1e-3 at these magnitudes (|x·w| ≤ 40·0.25).
#[test]
fn bf16_linear_with_bias_and_gelu_at_decode_shapes() {
    use tandem_tensor::Activation;
    let (m, k, n) = (4, 40, 70);
    let gen = |len: usize, seed: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    };
    let bf = |v: &[f32], dims: &[usize]| t(v, dims).to_dtype(DType::BF16).unwrap();
    let (x, w, b) = (
        bf(&gen(m * k, 1), &[m, k]),
        bf(&gen(n * k, 2), &[n, k]),
        bf(&gen(n, 3), &[n]),
    );
    let y = x.linear(&w, Some(&b), Some(Activation::Gelu)).unwrap();
    assert_eq!(y.dtype(), DType::BF16);
    let got = y.to_vec_f32().unwrap();
    let (xv, wv, bv) = (
        x.to_vec_f32().unwrap(),
        w.to_vec_f32().unwrap(),
        b.to_vec_f32().unwrap(),
    );
    for i in 0..m {
        for j in 0..n {
            let z: f64 = f64::from(bv[j])
                + (0..k)
                    .map(|p| f64::from(xv[i * k + p]) * f64::from(wv[j * k + p]))
                    .sum::<f64>();
            let want = 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
            let g = f64::from(got[i * n + j]);
            let tol = want.abs() * 2f64.powi(-8) + 1e-3;
            assert!((g - want).abs() <= tol, "({i},{j}): {g} vs {want}");
        }
    }
}

/// Empty products in every float dtype: no output columns (`n = 0`, where the bf16 skinny
/// kernel would otherwise take 1 row) gives an empty result, and no inner dimension (`k = 0`)
/// gives the bias alone.
#[test]
fn matmul_with_empty_dimensions() {
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let x = t(&[1.0; 4], &[1, 4]).to_dtype(dtype).unwrap();
        let no_columns = t(&[], &[0, 4]).to_dtype(dtype).unwrap();
        let y = x.linear(&no_columns, None, None).unwrap();
        assert_eq!(y.dims(), &[1, 0], "{dtype}");
        let x0 = t(&[], &[2, 0]).to_dtype(dtype).unwrap();
        let w0 = t(&[], &[3, 0]).to_dtype(dtype).unwrap();
        let bias = t(&[1.0, -2.0, 0.5], &[3]).to_dtype(dtype).unwrap();
        let y = x0.linear(&w0, Some(&bias), None).unwrap();
        assert_eq!(
            y.to_vec_f32().unwrap(),
            [1.0, -2.0, 0.5, 1.0, -2.0, 0.5],
            "{dtype}"
        );
    }
}
