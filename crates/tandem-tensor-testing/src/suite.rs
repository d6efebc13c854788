//! The `conformance_suite!` macro: one `#[test]` per op for a backend.

/// Expands to a module `conformance` holding one `#[test]` per op (`conformance::matmul`,
/// `conformance::attention`, …), so a failing test names the op.
///
/// ```ignore
/// // A backend that always exists:
/// tandem_tensor_testing::conformance_suite!(tandem_tensor::CpuBackend);
/// // A backend whose constructor returns `Option<B>` or `Result<B, E: Display>`, with a smaller
/// // default case count (software rasterisers are slow):
/// tandem_tensor_testing::conformance_suite!(fallible: WgpuBackend::new(), cases: 32);
/// ```
///
/// The constructor expression is evaluated once per test, inside the generated module (which
/// glob-imports its parent, so names imported next to the macro call resolve). Cases per op:
/// `TANDEM_CONFORMANCE_CASES` if set, else `cases`, else [`DEFAULT_CASES`](crate::DEFAULT_CASES).
/// A fallible constructor that finds no device fails every test with its reason and the fix
/// (never a silent pass).
///
/// For a backend that CI machines never have (CUDA), `ignore: "reason"` marks every test
/// `#[ignore = "reason"]`: `cargo test` lists each as ignored with the reason (never a silent
/// pass) and `cargo test -- --ignored` runs them where the device exists:
///
/// ```ignore
/// tandem_tensor_testing::conformance_suite!(ignore: "needs an NVIDIA GPU", fallible: CudaBackend::new(0));
/// ```
#[macro_export]
macro_rules! conformance_suite {
    (ignore: $reason:literal, fallible: $ctor:expr $(, cases: $cases:expr)? $(,)?) => {
        $crate::__conformance_tests!(($ctor) ($crate::__default_cases!($($cases)?)) ($reason));
    };
    (fallible: $ctor:expr $(, cases: $cases:expr)? $(,)?) => {
        $crate::__conformance_tests!(($ctor) ($crate::__default_cases!($($cases)?)) ());
    };
    ($ctor:expr $(, cases: $cases:expr)? $(,)?) => {
        $crate::__conformance_tests!(($crate::runner::Always($ctor)) ($crate::__default_cases!($($cases)?)) ());
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __default_cases {
    () => {
        $crate::DEFAULT_CASES
    };
    ($cases:expr) => {
        $cases
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($source:expr) ($cases:expr) ($($reason:literal)?)) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;
            $crate::__conformance_tests!(@tests ($source) ($cases) ($($reason)?)
                unary => unary::run,
                binary => binary::run,
                reduce => reduce::run,
                argmax_argmin => arg::run,
                topk => topk::run,
                matmul => matmul::run,
                matmul_fused => fused::run,
                softmax => softmax::run,
                log_softmax => log_softmax::run,
                layer_norm => layer_norm::run,
                add_layer_norm => add_layer_norm::run,
                l2_normalize => l2_normalize::run,
                attention => attention::run,
                index_select => index_select::run,
                embedding => index_select::run_embedding,
                cat => cat::run,
                slice_set => slice_set::run,
                patch_embed => patch_embed::run,
                cast => cast::run,
                views => views::run,
                error_paths => errors::run,
            );
        }
    };
    (@tests ($source:expr) ($cases:expr) () $($name:ident => $module:ident :: $run:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__conformance_tests!(@body ($source) ($cases) $name $module $run);
            }
        )*
    };
    (@tests ($source:expr) ($cases:expr) ($reason:literal) $($name:ident => $module:ident :: $run:ident),* $(,)?) => {
        $(
            #[test]
            #[ignore = $reason]
            fn $name() {
                $crate::__conformance_tests!(@body ($source) ($cases) $name $module $run);
            }
        )*
    };
    (@body ($source:expr) ($cases:expr) $name:ident $module:ident $run:ident) => {
        let cases = $crate::runner::cases($cases);
        let backend = $crate::acquire(stringify!($name), $source);
        $crate::problems::$module::$run(&backend, cases);
    };
}
