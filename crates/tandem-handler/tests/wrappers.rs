//! Every wrapper forwards the whole `ModelHandler` contract: the probe handler answers each
//! method with something no default would, and each answer must come through each wrapper.

use tandem_handler::testing::{assert_forwards_probe as assert_forwards, Probe};
use tandem_handler::{HandlerError, MaybeKeyed, ModelHandlerExt};

#[test]
fn keyed_forwards_every_method() {
    assert_forwards("keyed", &Probe.keyed::<&str>(), |n| ("k", n), true);
}

#[test]
fn maybe_keyed_forwards_every_method_for_both_kinds() {
    let h = Probe.maybe_keyed::<u8>();
    assert_forwards("maybe_keyed/keyed", &h, |n| MaybeKeyed::Keyed(9, n), true);
    assert_forwards("maybe_keyed/unkeyed", &h, MaybeKeyed::Unkeyed, true);
}

#[test]
fn postprocess_forwards_every_method() {
    // Identity post-processing, so the predictions stay comparable.
    assert_forwards(
        "postprocess",
        &Probe.with_postprocess(|p: u32| p),
        |n| n,
        true,
    );
}

#[test]
fn preprocess_forwards_every_method_but_the_per_example_ones() {
    let h = Probe.with_preprocess(|s: &String| s.parse::<u32>().map_err(HandlerError::inference));
    assert_forwards("preprocess", &h, |n| n.to_string(), false);
}

#[test]
fn nested_wrappers_forward_every_method() {
    let h = Probe
        .with_postprocess(|p: u32| p)
        .keyed::<u64>()
        .maybe_keyed::<u8>();
    assert_forwards("nested", &h, |n| MaybeKeyed::Unkeyed((3, n)), true);
}
