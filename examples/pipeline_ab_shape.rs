//! The A/B shape: requests are split 50/50 by a stable hash of the user id (a user always
//! sees the same model), each arm runs its own stand-in model, and the pipeline counts
//! predictions per arm.
//!
//! ```text
//! cargo run -p tandem-pipeline --example pipeline_ab_shape
//! ```

use serde::{Deserialize, Serialize};
use tandem_pipeline::{PCollection, Pipeline, WriteStdout};

/// A request: the user id and the model's input features.
pub type Request = (String, Vec<f32>);

/// One model's answer for one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// `"A"` (control) or `"B"` (challenger).
    pub arm: String,
    /// The user the request came from.
    pub user: String,
    /// The model's score.
    pub score: f32,
}

/// Stand-in control model: the mean of the features.
pub fn model_a(features: &[f32]) -> f32 {
    features.iter().sum::<f32>() / features.len().max(1) as f32
}

/// Stand-in challenger model: the largest feature.
pub fn model_b(features: &[f32]) -> f32 {
    features.iter().copied().fold(f32::MIN, f32::max)
}

/// What the A/B pipeline produces.
pub struct AbTest {
    /// Every prediction, tagged with its arm.
    pub predictions: PCollection<Prediction>,
    /// `(arm, number of predictions)`.
    pub arm_counts: PCollection<(String, u64)>,
}

/// Builds the A/B split on `requests`.
pub fn build_ab(requests: &PCollection<Request>) -> AbTest {
    let arms = requests.partition_by_key_hash("SplitByUser", &[50, 50]);
    let a = arms[0].map("ModelA", |(user, features): Request| Prediction {
        arm: String::from("A"),
        score: model_a(&features),
        user,
    });
    let b = arms[1].map("ModelB", |(user, features): Request| Prediction {
        arm: String::from("B"),
        score: model_b(&features),
        user,
    });
    let predictions = a.flatten_with("MergeArms", &[&b]);
    let arm_counts = predictions
        .map("ArmOf", |p: Prediction| (p.arm, ()))
        .count_per_key("CountPerArm");
    AbTest {
        predictions,
        arm_counts,
    }
}

/// `n` stand-in requests from `n / 2` users (every user sends two).
pub fn synthetic_requests(n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| {
            let user = format!("user-{}", i / 2);
            let features = (0..4)
                .map(|j| ((i * 7 + j * 3) % 11) as f32 / 10.0)
                .collect();
            (user, features)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = Pipeline::new();
    let requests = p.create(synthetic_requests(1000)).named("ReadRequests");
    let ab = build_ab(&requests);
    ab.arm_counts.write("WriteCounts", WriteStdout);
    eprintln!("{}", p.to_dot());
    let report = p.run()?;
    eprintln!("{report}");
    Ok(())
}
