//! The suite's own machinery: a missing device is a clear failure or (when allowed) a skip,
//! and the comparison helpers and reference agree with hand-computed values.

use tandem_tensor::{CpuBackend, DType};
use tandem_tensor_testing::reference::{attention, matmul, softmax, topk};
use tandem_tensor_testing::{acquire, compare, Tolerance};

#[test]
fn missing_device_fails_with_its_reason() {
    let err = std::panic::catch_unwind(|| {
        acquire::<CpuBackend>("op", Err::<CpuBackend, _>("no adapter"))
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("no adapter") && msg.contains("--skip"),
        "{msg}"
    );
    let _backend: CpuBackend = acquire("op", Some(CpuBackend));
}

#[test]
fn reference_matches_hand_values() {
    // [[1, 2], [3, 4]] · [[5], [6]] = [[17], [39]]
    let r = matmul::matmul(&[1., 2., 3., 4.], &[2, 2], &[5., 6.], &[2, 1], None, None).unwrap();
    assert_eq!((r.dims, r.values), (vec![2, 1], vec![17., 39.]));
    // Causal with 1 query over 3 keys sees all 3 (KV-cache decoding step).
    let p = softmax::softmax(&[0., 0., 0.], &[1, 3], None, true);
    assert!(p.iter().all(|&x| (x - 1.0 / 3.0).abs() < 1e-12));
    let p = softmax::softmax(&[0., 0., 0., 0.], &[2, 2], None, true);
    assert_eq!(p, vec![1., 0., 0.5, 0.5]);
    let (v, i) = topk::topk_last(&[1., 3., 3., f64::NAN], 4, 3);
    assert!(v[0].is_nan() && v[1] == 3.0 && v[2] == 3.0);
    assert_eq!(i, vec![3, 1, 2]);
    let s = attention::AttnShape {
        b: 1,
        bk: 1,
        h: 1,
        lq: 1,
        lk: 2,
        d: 1,
        dv: 1,
    };
    let (o, _) = attention::attention(&[1.], &[0., 0.], &[2., 4.], None, s, 1.0, false);
    assert_eq!(o, vec![3.0]);
    assert!(compare(
        "t",
        &[1],
        &[1.0],
        &[1.0 + 1e-6],
        None,
        Tolerance::of(DType::F32)
    )
    .is_ok());
}
