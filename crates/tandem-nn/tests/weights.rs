//! Safetensors loading: dtype conversion, prefixes, the all-problems report, corrupt files.

use std::path::PathBuf;
use tandem_nn::{write_safetensors, HostTensor, NnError, Weights};
use tandem_tensor::{CpuBackend, DType};
use tandem_tensor_testing::{assert_close_slices, close::unit_roundoff, Close};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-nn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn t(name: &str, shape: &[usize], values: Vec<f32>) -> HostTensor {
    HostTensor {
        name: name.into(),
        shape: shape.to_vec(),
        values,
    }
}

fn sample() -> Vec<HostTensor> {
    vec![
        t(
            "enc.layers.0.fc.weight",
            &[2, 3],
            vec![0.5, -1.25, 2.0, 3.5, 1e-3, -7.0],
        ),
        t("enc.layers.0.fc.bias", &[2], vec![0.1, -0.2]),
        t("enc.norm.weight", &[3], vec![1.0, 2.0, 3.0]),
        t("head.weight", &[4], vec![9.0, 8.0, 7.0, 6.0]),
    ]
}

#[test]
fn loads_each_disk_dtype_into_f32_by_prefixed_name() {
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let path = tmp(&format!("dtype-{dtype}.safetensors"));
        write_safetensors(&path, &sample(), dtype).expect("write");
        let w = Weights::from_file(&path, &CpuBackend, DType::F32).expect("open");
        let layer = w.prefix("enc").prefix("layers.0");
        let weight = layer.get("fc.weight", &[2, 3]).expect("weight");
        assert_eq!(weight.dtype(), DType::F32);
        let got = weight.to_vec::<f32>().expect("read");
        // Written as `dtype` then widened: one rounding to `dtype`, at most its unit roundoff
        // relative (every sample value is a normal number of that dtype; exact in f32).
        assert_close_slices(
            &format!("{dtype} fc.weight"),
            &got,
            &sample()[0].values,
            Close::rel(unit_roundoff(dtype)),
        );
        assert_eq!(layer.full_name("fc.bias"), "enc.layers.0.fc.bias");
        assert_eq!(w.shape_of("head.weight"), Some(vec![4]));
        layer.get("fc.bias", &[2]).expect("bias");
        w.get("enc.norm.weight", &[3]).expect("norm");
        w.get("head.weight", &[4]).expect("head");
        w.finish().expect("every tensor used");
    }
}

#[test]
fn computes_in_f16_when_asked() {
    let path = tmp("to-f16.safetensors");
    write_safetensors(&path, &sample(), DType::F32).expect("write");
    let w = Weights::from_file(&path, &CpuBackend, DType::F16).expect("open");
    let x = w.get("enc.norm.weight", &[3]).expect("norm");
    assert_eq!(x.dtype(), DType::F16);
    assert_eq!(x.to_vec_f32().expect("read"), vec![1.0, 2.0, 3.0]);
}

#[test]
fn mismatch_lists_every_missing_unexpected_and_mis_shaped_tensor() {
    let path = tmp("mismatch.safetensors");
    write_safetensors(&path, &sample(), DType::F32).expect("write");
    let w = Weights::from_file(&path, &CpuBackend, DType::F32).expect("open");
    let enc = w.prefix("enc");
    // Mis-shaped: placeholder of the expected shape comes back so construction goes on.
    let placeholder = enc.get("layers.0.fc.weight", &[3, 2]).expect("placeholder");
    assert_eq!(placeholder.dims(), &[3, 2]);
    enc.get("layers.0.fc.bias", &[2]).expect("bias");
    enc.get("layers.1.fc.weight", &[2, 3]).expect("placeholder");
    enc.get("missing.bias", &[5]).expect("placeholder");
    let err = w.finish().expect_err("must fail");
    let NnError::WeightsMismatch(report) = &err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(
        report.missing,
        vec![
            ("enc.layers.1.fc.weight".to_string(), vec![2, 3]),
            ("enc.missing.bias".to_string(), vec![5])
        ]
    );
    assert_eq!(
        report.mis_shaped,
        vec![("enc.layers.0.fc.weight".to_string(), vec![3, 2], vec![2, 3])]
    );
    assert_eq!(
        report.unexpected,
        vec![
            ("enc.norm.weight".to_string(), vec![3]),
            ("head.weight".to_string(), vec![4])
        ]
    );
    let text = err.to_string();
    for needle in [
        "enc.layers.1.fc.weight (expected shape [2, 3])",
        "expected [3, 2], found [2, 3]",
        "head.weight",
        "2 missing",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    // Ignoring the unused tensors leaves only the real problems.
    let report = w.report(|n| n.ends_with("weight"));
    assert!(report.unexpected.is_empty());
    assert_eq!(report.missing.len(), 2);
}

#[test]
fn optional_and_skipped_tensors() {
    let path = tmp("optional.safetensors");
    write_safetensors(&path, &sample(), DType::F32).expect("write");
    let w = Weights::from_file(&path, &CpuBackend, DType::F32).expect("open");
    assert!(w.get_optional("nope", &[1]).expect("optional").is_none());
    assert!(w
        .get_optional("head.weight", &[4])
        .expect("optional")
        .is_some());
    w.skip("enc.norm.weight");
    let report = w.report(|_| false);
    assert!(report.missing.is_empty());
    assert_eq!(report.unexpected.len(), 2, "{report}");
}

#[test]
fn truncated_garbage_and_missing_files_are_errors() {
    let path = tmp("whole.safetensors");
    write_safetensors(&path, &sample(), DType::F32).expect("write");
    let bytes = std::fs::read(&path).expect("read");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated data", bytes[..bytes.len() - 3].to_vec()),
        ("truncated header", bytes[..20].to_vec()),
        ("empty", Vec::new()),
        ("garbage header", {
            let mut b = 40u64.to_le_bytes().to_vec();
            b.extend_from_slice(&[0xff; 40]);
            b
        }),
        (
            "huge header length",
            u64::MAX
                .to_le_bytes()
                .iter()
                .copied()
                .chain([b'{'; 16])
                .collect(),
        ),
        ("json, not a header", {
            let header = br#"{"a":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}"#;
            let mut b = (header.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(header);
            b.extend_from_slice(&[0; 16]);
            b
        }),
    ];
    for (what, data) in cases {
        let p = tmp(&format!("bad-{}.safetensors", what.replace(' ', "-")));
        std::fs::write(&p, &data).expect("write");
        match Weights::from_file(&p, &CpuBackend, DType::F32) {
            Err(NnError::CorruptWeights { path, reason }) => {
                assert_eq!(path, p);
                assert!(!reason.is_empty(), "{what}");
            }
            Err(other) => panic!("{what}: wrong error {other}"),
            Ok(_) => panic!("{what}: accepted a corrupt file"),
        }
    }
    let missing = tmp("does-not-exist.safetensors");
    assert!(matches!(
        Weights::from_file(&missing, &CpuBackend, DType::F32),
        Err(NnError::Io { .. })
    ));
}

#[test]
fn integer_tensors_are_reported_not_converted() {
    // An int64 buffer (like `position_ids`) asked for as a weight is a dtype problem.
    let path = tmp("ints.safetensors");
    let data: Vec<u8> = (0..4i64).flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![4], &data)
        .expect("view");
    safetensors::serialize_to_file(vec![("ids", view)], None, &path).expect("write");
    let w = Weights::from_file(&path, &CpuBackend, DType::F32).expect("open");
    w.get("ids", &[4]).expect("placeholder");
    let NnError::WeightsMismatch(report) = w.finish().expect_err("int as float") else {
        panic!("wrong error")
    };
    assert_eq!(
        report.bad_dtype,
        vec![("ids".to_string(), "I64".to_string())]
    );
    let file = tandem_nn::SafetensorsFile::open(&path).expect("open");
    assert_eq!(file.read_i64("ids").expect("ids"), vec![0, 1, 2, 3]);
}
