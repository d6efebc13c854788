//! Behaviour of each transform, checked against plain-Rust computations.

mod common;

use common::{assert_balanced, runner, sorted};
use tandem_pipeline::{BoxError, CoGroupByKey, DoFn, Emitter, Error, OutputTag, Pipeline};

#[test]
fn map_flat_map_filter_and_keyed_helpers() {
    let p = Pipeline::new();
    let nums = p.create(1..=20u32).named("Numbers");
    let evens = nums.filter("Evens", |x| x % 2 == 0);
    let doubled = evens.map("Double", |x| x * 2).collect("CollectDoubled");
    let repeated = nums
        .flat_map("Repeat", |x| vec![x; (x % 3) as usize])
        .collect("CollectRepeated");
    let keyed = nums.with_keys("KeyByMod", |x| x % 4);
    let keys = keyed.keys("Keys").collect("CollectKeys");
    let values = keyed.values("Values").collect("CollectValues");
    let report = p.run_with(&runner(3)).unwrap();

    assert_eq!(
        sorted(doubled.take()),
        (1..=20u32)
            .filter(|x| x % 2 == 0)
            .map(|x| x * 2)
            .collect::<Vec<_>>()
    );
    let expected: Vec<u32> = (1..=20u32)
        .flat_map(|x| vec![x; (x % 3) as usize])
        .collect();
    assert_eq!(sorted(repeated.take()), sorted(expected));
    assert_eq!(
        sorted(keys.take()),
        sorted((1..=20u32).map(|x| x % 4).collect())
    );
    assert_eq!(sorted(values.take()), (1..=20u32).collect::<Vec<_>>());

    assert_balanced(&report);
    let evens = report.step("Evens").unwrap();
    assert_eq!(
        (evens.elements_in, evens.elements_out, evens.filtered),
        (20, 10, 10)
    );
    assert_eq!(report.step("Numbers").unwrap().elements_out, 20);
    assert_eq!(report.step("CollectDoubled").unwrap().written, 10);
}

#[test]
fn group_co_group_and_combines() {
    let p = Pipeline::new();
    let pairs = p.create(
        vec![("a", 1u32), ("b", 2), ("a", 3), ("c", 4), ("a", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    let grouped = pairs.group_by_key("Group").collect("G");
    let sums = pairs
        .combine_per_key("Sum", 0u64, |acc, v| acc + u64::from(v))
        .collect("S");
    let counts = pairs.count_per_key("Count").collect("C");
    let total = pairs.count_globally("Total").collect("T");
    let labels = p.create(vec![("a".to_string(), 'x'), ("d".to_string(), 'y')]);
    let joined = pairs.co_group_by_key("Join", &labels).collect("J");
    p.run_with(&runner(2)).unwrap();

    let grouped: Vec<(String, Vec<u32>)> = sorted(
        grouped
            .take()
            .into_iter()
            .map(|(k, v)| (k, sorted(v)))
            .collect(),
    );
    assert_eq!(
        grouped,
        vec![
            ("a".into(), vec![1, 3, 5]),
            ("b".into(), vec![2]),
            ("c".into(), vec![4])
        ]
    );
    assert_eq!(
        sorted(sums.take()),
        vec![("a".into(), 9), ("b".into(), 2), ("c".into(), 4)]
    );
    assert_eq!(
        sorted(counts.take()),
        vec![("a".into(), 3), ("b".into(), 1), ("c".into(), 1)]
    );
    assert_eq!(total.take(), vec![5]);
    let joined: Vec<tandem_pipeline::CoGrouped<String, u32, char>> = sorted(
        joined
            .take()
            .into_iter()
            .map(|(k, (a, b))| (k, (sorted(a), b)))
            .collect(),
    );
    assert_eq!(
        joined,
        vec![
            ("a".into(), (vec![1, 3, 5], vec!['x'])),
            ("b".into(), (vec![2], vec![])),
            ("c".into(), (vec![4], vec![])),
            ("d".into(), (vec![], vec!['y'])),
        ]
    );
}

#[test]
fn three_way_co_group_with_tags() {
    let p = Pipeline::new();
    let images = p.create(vec![(1u32, "img1".to_string()), (2, "img2".to_string())]);
    let captions = p.create(vec![
        (1u32, "a cat".to_string()),
        (1, "a dog".to_string()),
        (2, "a car".to_string()),
    ]);
    let scores = p.create(vec![(2u32, 0.5f32)]);
    let mut cg = CoGroupByKey::new(&p);
    let t_img = cg.add(&images);
    let t_cap = cg.add(&captions);
    let t_score = cg.add(&scores);
    let out = cg
        .apply("Join")
        .map("Shape", move |(k, mut r)| {
            let imgs: Vec<String> = r.get(&t_img).cloned().collect();
            let caps = sorted(r.take(&t_cap));
            let scores: Vec<f32> = r.take(&t_score);
            (k, imgs, caps, scores.len())
        })
        .collect("Collect");
    p.run().unwrap();
    assert_eq!(
        sorted(out.take()),
        vec![
            (
                1,
                vec!["img1".to_string()],
                vec!["a cat".to_string(), "a dog".to_string()],
                0
            ),
            (2, vec!["img2".to_string()], vec!["a car".to_string()], 1),
        ]
    );
}

/// Grouping steps report the values they hold (`max_held`): in the global window of a bounded
/// input every value waits for the end of input, one count per value (a combine too, although
/// it keeps one accumulator per key).
#[test]
fn grouping_steps_hold_every_value_of_the_global_window() {
    let p = Pipeline::new();
    let pairs = p.create((0..6u32).map(|i| (i % 2, i)));
    pairs.group_by_key("Group").with_parallelism(1).collect("G");
    pairs
        .count_per_key("Count")
        .with_parallelism(1)
        .collect("C");
    let labels = p.create(vec![(0u32, 'x')]);
    pairs
        .co_group_by_key("Join", &labels)
        .with_parallelism(1)
        .collect("J");
    let report = p.run_with(&runner(2)).unwrap();
    for (step, held) in [("Group", 6), ("Count", 6), ("Join", 7)] {
        assert_eq!(report.step(step).unwrap().max_held, held, "{step}");
    }
}

/// A result shows every input's values in `Debug` (in the order the inputs were added), a
/// clone keeps its own values, and a tag of another co-group selects nothing from it.
#[test]
fn co_group_results_show_their_inputs_and_ignore_foreign_tags() {
    let p = Pipeline::new();
    let images = p.create(vec![(2u32, "img2".to_string())]);
    let scores = p.create(vec![(2u32, 0.5f32)]);
    let mut other = CoGroupByKey::new(&p);
    let foreign = other.add(&images);
    let mut cg = CoGroupByKey::new(&p);
    let t_img = cg.add(&images);
    let t_score = cg.add(&scores);
    let out = cg
        .apply("Join")
        .map("Shape", move |(k, mut r)| {
            let shown = format!("{r:?}");
            let foreign_values = (r.get(&foreign).count(), r.take(&foreign).len());
            let kept = r.clone();
            let images = r.take(&t_img);
            let kept_images: Vec<String> = kept.get(&t_img).cloned().collect();
            (
                k,
                shown,
                foreign_values,
                images,
                kept_images,
                r.take(&t_score),
            )
        })
        .collect("Collect");
    p.run().unwrap();
    assert_eq!(
        out.take(),
        vec![(
            2,
            r#"[["\"img2\""], ["0.5"]]"#.to_string(),
            (0, 0),
            vec!["img2".to_string()],
            vec!["img2".to_string()],
            vec![0.5f32]
        )]
    );
}

#[test]
fn partition_flatten_and_key_hash_split_are_deterministic() {
    let p = Pipeline::new();
    let nums = p.create(0..30u32);
    let parts = nums.partition("ByMod", 3, |x, n| (*x as usize) % n);
    assert_eq!(parts.len(), 3);
    let firsts = parts[1].collect("Arm1");
    let all = parts[0]
        .flatten_with("Merge", &[&parts[1], &parts[2]])
        .collect("All");
    let users = p.create((0..200u32).map(|u| (format!("user-{u}"), u)));
    let arms = users.partition_by_key_hash("AB", &[50, 50]);
    let a = arms[0].collect("A");
    let b = arms[1].collect("B");
    let report = p.run_with(&runner(2)).unwrap();
    assert_eq!(
        sorted(firsts.take()),
        (0..30).filter(|x| x % 3 == 1).collect::<Vec<_>>()
    );
    assert_eq!(sorted(all.take()), (0..30).collect::<Vec<_>>());
    let (a, b) = (a.take(), b.take());
    assert_eq!(a.len() + b.len(), 200);
    for (k, _) in &a {
        assert!(tandem_pipeline::stable_hash(k) % 100 < 50, "{k} in arm A");
    }
    for (k, _) in &b {
        assert!(tandem_pipeline::stable_hash(k) % 100 >= 50, "{k} in arm B");
    }
    // A fair hash splits 200 keys roughly evenly (binomial: 100 +- 3 sigma ~ 21).
    assert!((70..=130).contains(&a.len()), "arm A has {}", a.len());
    assert_balanced(&report);
}

#[test]
fn key_hash_split_rejects_zero_weights() {
    let p = Pipeline::new();
    let arms = p
        .create(vec![("k".to_string(), 1u8)])
        .partition_by_key_hash("AB", &[0, 0]);
    assert!(arms.is_empty());
    assert!(matches!(p.run(), Err(Error::InvalidGraph { .. })));
}

/// Routes odd numbers to a tagged output, doubles the rest.
#[derive(Clone)]
struct SplitOdd {
    odd: OutputTag<String>,
}

impl DoFn for SplitOdd {
    type In = u32;
    type Out = u32;
    fn process(&mut self, x: u32, out: &mut Emitter<'_, u32, u32>) -> Result<(), BoxError> {
        if x % 2 == 1 {
            out.output(&self.odd, format!("odd {x}"));
        } else {
            out.emit(x * 2);
        }
        Ok(())
    }
}

#[test]
fn tagged_side_outputs() {
    let p = Pipeline::new();
    let odd = OutputTag::<String>::new("odd");
    let step = p
        .create(0..6u32)
        .par_do("Split", SplitOdd { odd: odd.clone() });
    let evens = step.collect("Evens");
    let odds = step.side_output(&odd).collect("Odds");
    let report = p.run().unwrap();
    assert_eq!(sorted(evens.take()), vec![0, 4, 8]);
    assert_eq!(sorted(odds.take()), vec!["odd 1", "odd 3", "odd 5"]);
    let m = report.step("Split").unwrap();
    assert_eq!(
        m.outputs,
        vec![("main".to_string(), 3), ("odd".to_string(), 3)]
    );
}

#[test]
fn emitting_to_an_undeclared_tag_fails_the_element() {
    let p = Pipeline::new();
    let odd = OutputTag::<String>::new("odd");
    p.create(0..4u32)
        .par_do("Split", SplitOdd { odd })
        .collect("Evens");
    match p.run() {
        Err(Error::ElementFailed {
            step,
            element,
            message,
        }) => {
            assert_eq!(step, "Split");
            assert_eq!(element, "1");
            assert!(message.contains("`odd`"), "{message}");
        }
        other => panic!("expected an element failure, got {other:?}"),
    }
}

#[test]
fn duplicate_names_are_made_unique_and_graph_prints() {
    let p = Pipeline::new();
    let a = p.create(0..3u8).map("Step", |x| x).map("Step", u16::from);
    a.collect("Out");
    let text = p.to_text();
    assert!(text.contains("Step [ParDo] <- Create.main"), "{text}");
    assert!(text.contains("Step (2) [ParDo] <- Step.main"), "{text}");
    assert!(text.contains("-> main: u16"), "{text}");
    let dot = p.to_dot();
    assert!(dot.starts_with("digraph pipeline {"));
    assert_eq!(dot.matches(" -> ").count(), 3, "{dot}");
    p.clone().run().unwrap();
    assert!(matches!(p.run(), Err(Error::AlreadyRun)));
}
