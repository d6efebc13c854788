//! Opening the backend never panics: without a driver, NVRTC or the device it returns an error
//! that names the fix (cudarc itself panics when a library is missing; we check first). Runs on
//! every machine: the expectation follows from what the machine has.

use tandem_cuda::{CudaBackend, CudaError};

#[test]
fn opening_reports_missing_pieces_as_errors() {
    let opened = std::panic::catch_unwind(|| CudaBackend::new(0).map(|_| ()));
    let opened = opened.expect("CudaBackend::new must not panic");
    match (CudaBackend::is_available(), opened) {
        (false, Err(e)) => {
            let text = e.to_string();
            assert!(
                matches!(
                    e,
                    CudaError::NoDriver
                        | CudaError::NoNvrtc { .. }
                        | CudaError::NoDevice { .. }
                        | CudaError::Driver { .. }
                ),
                "unexpected error kind: {e:?}"
            );
            assert!(
                text.len() > 40,
                "the message should explain the fix: {text}"
            );
        }
        (false, Ok(())) => panic!("no driver or device was detected, yet the backend opened"),
        (true, result) => {
            // A GPU machine: opening device 0 must work unless NVRTC is what is missing.
            if let Err(e) = result {
                assert!(
                    matches!(e, CudaError::NoNvrtc { .. } | CudaError::NvrtcLoad { .. }),
                    "GPU present but: {e}"
                );
            }
        }
    }
}

#[test]
fn a_device_index_past_the_last_is_an_error() {
    let result = std::panic::catch_unwind(|| CudaBackend::new(10_000).map(|_| ()));
    let err = result
        .expect("must not panic")
        .expect_err("there is no GPU 10000");
    let text = err.to_string();
    assert!(!text.is_empty());
    if CudaBackend::is_available() {
        assert!(
            matches!(
                err,
                CudaError::NoDevice {
                    ordinal: 10_000,
                    ..
                } | CudaError::NoNvrtc { .. }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn errors_convert_to_tensor_errors_keeping_the_source() {
    let oom: tandem_tensor::Error = CudaError::OutOfMemory { bytes: 1 << 30 }.into();
    assert!(oom.is_out_of_memory(), "{oom}");
    let other: tandem_tensor::Error = CudaError::NoDriver.into();
    assert!(!other.is_out_of_memory());
    let source = std::error::Error::source(&other).expect("the CUDA error is kept as the source");
    assert!(source.downcast_ref::<CudaError>().is_some(), "{source}");
}
