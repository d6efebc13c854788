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
