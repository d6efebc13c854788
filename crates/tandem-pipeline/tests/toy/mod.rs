//! The toy model of the RunInference tests: `tandem_handler::testing`'s linear handler,
//! `y = factor · (w·x + b)` with the factor as `inference_args`, and its inputs.

#![allow(dead_code, unused_imports)] // shared by several test crates, each using part of it

pub use tandem_handler::testing::{write_weights, LinearModel, Scale};

/// The toy handler with a [`Scale`] as `inference_args`.
pub type Linear = tandem_handler::testing::Linear<Scale>;

/// `[x, 1, 0, 0]`.
pub fn ex(x: f32) -> Vec<f32> {
    vec![x, 1.0, 0.0, 0.0]
}
