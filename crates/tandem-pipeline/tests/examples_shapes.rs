//! The two examples' pipelines, built by the examples' own functions, checked against plain
//! computations.

mod common;

#[path = "../../../examples/pipeline_cascade_shape.rs"]
#[allow(dead_code)]
mod cascade;

#[path = "../../../examples/pipeline_ab_shape.rs"]
#[allow(dead_code)]
mod ab;

use std::collections::{BTreeMap, BTreeSet};

use common::{assert_balanced, runner, sorted};
use tandem_pipeline::{stable_hash, Pipeline, ReadImages};

#[test]
fn cascade_ranks_every_good_image_and_dead_letters_the_bad_one() {
    let images = cascade::synthetic_images();
    let p = Pipeline::new();
    let input = p.create(images.clone()).named("ReadImages");
    let out = cascade::build_cascade(&input);
    let ranked = out.ranked.collect("Ranked");
    let rejected = out.rejected.collect("Rejected");
    let report = p.run_with(&runner(2)).unwrap();

    let mut ranked = ranked.take();
    ranked.sort_by(|a, b| a.image.cmp(&b.image));
    let good: Vec<_> = images.iter().filter(|(_, b)| !b.is_empty()).collect();
    assert_eq!(ranked.len(), good.len());
    for (r, (key, bytes)) in ranked.iter().zip(&good) {
        assert_eq!(&r.image, key);
        let captions = cascade::propose_captions(bytes).unwrap();
        let mut want: Vec<(String, f32)> = captions
            .iter()
            .map(|c| cascade::clean_caption(c))
            .map(|c| {
                let s = cascade::score(bytes, &c);
                (c, s)
            })
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        assert_eq!(r.ranking, want);
    }
    let rejected = rejected.take();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].element.0, "img-2.png");
    assert_eq!(rejected[0].error, "empty image");
    assert_eq!(rejected[0].step, "ModelA/Caption");

    assert_balanced(&report);
    let model_a = report.step("ModelA/Caption").unwrap();
    assert_eq!(
        (
            model_a.elements_in,
            model_a.elements_out,
            model_a.dead_lettered
        ),
        (4, 3, 1)
    );
    assert_eq!(report.step("ModelB/Rank").unwrap().elements_in, 3);
}

#[test]
fn cascade_reads_a_folder_of_images() {
    let dir = common::TempDir::new("cascade");
    std::fs::write(dir.path("b.png"), b"dark sky").unwrap();
    std::fs::write(dir.path("a.JPG"), [250u8; 10]).unwrap();
    std::fs::write(dir.path("notes.txt"), b"not an image").unwrap();
    let p = Pipeline::new();
    let out = cascade::build_cascade(&p.read(ReadImages::from_folder(&dir.0)));
    let ranked = out.ranked.collect("Ranked");
    p.run().unwrap();
    let names: BTreeSet<String> = ranked
        .take()
        .into_iter()
        .map(|r| r.image.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["a.JPG".to_string(), "b.png".to_string()])
    );
}

#[test]
fn ab_split_is_stable_per_user_and_counts_each_arm() {
    let requests = ab::synthetic_requests(400);
    let run = |workers| {
        let p = Pipeline::new();
        let out = ab::build_ab(&p.create(requests.clone()));
        let predictions = out.predictions.collect("Predictions");
        let counts = out.arm_counts.collect("Counts");
        let report = p.run_with(&runner(workers)).unwrap();
        assert_balanced(&report);
        (sorted(counts.take()), predictions.take())
    };
    let (counts, predictions) = run(1);

    let in_a = |user: &String| stable_hash(user) % 100 < 50;
    let want_a = requests.iter().filter(|(u, _)| in_a(u)).count() as u64;
    let want_b = requests.len() as u64 - want_a;
    let mut want = vec![("A".to_string(), want_a), ("B".to_string(), want_b)];
    want.retain(|(_, n)| *n > 0);
    assert_eq!(counts, want);

    let mut arm_of_user: BTreeMap<String, String> = BTreeMap::new();
    for pr in &predictions {
        let arm = arm_of_user
            .entry(pr.user.clone())
            .or_insert_with(|| pr.arm.clone());
        assert_eq!(arm, &pr.arm, "user {} seen in both arms", pr.user);
    }
    let key =
        |user: &str, arm: &str, score: f32| (user.to_string(), arm.to_string(), score.to_bits());
    let got = sorted(
        predictions
            .iter()
            .map(|p| key(&p.user, &p.arm, p.score))
            .collect(),
    );
    let want = sorted(
        requests
            .iter()
            .map(|(u, f)| {
                if in_a(u) {
                    key(u, "A", ab::model_a(f))
                } else {
                    key(u, "B", ab::model_b(f))
                }
            })
            .collect(),
    );
    assert_eq!(got, want);
    // Same split with more workers.
    assert_eq!(run(4).0, counts);
}
