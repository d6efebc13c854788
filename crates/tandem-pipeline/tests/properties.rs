//! Algebraic properties of the transforms, checked on random inputs against naive Rust.

mod common;

use std::collections::BTreeMap;

use common::{runner, sorted};
use proptest::prelude::*;
use tandem_pipeline::{LocalRunner, Pipeline};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(24)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn partition_then_flatten_is_the_identity(xs in prop::collection::vec(any::<u32>(), 0..300), arms in 1usize..6) {
        let p = Pipeline::new();
        let parts = p.create(xs.clone()).partition("Split", arms, |x, n| (*x as usize) % n);
        let others: Vec<_> = parts.iter().skip(1).collect();
        let merged = parts[0].flatten_with("Merge", &others).collect("Out");
        p.run_with(&runner(3)).unwrap();
        prop_assert_eq!(sorted(merged.take()), sorted(xs));
    }

    #[test]
    fn key_hash_partition_then_flatten_is_the_identity(
        xs in prop::collection::vec((any::<u16>(), any::<u8>()), 0..200),
        weights in prop::collection::vec(1u32..10, 1..4),
    ) {
        let p = Pipeline::new();
        let parts = p.create(xs.clone()).partition_by_key_hash("Split", &weights);
        prop_assert_eq!(parts.len(), weights.len());
        let others: Vec<_> = parts.iter().skip(1).collect();
        let merged = parts[0].flatten_with("Merge", &others).collect("Out");
        p.run_with(&runner(2)).unwrap();
        prop_assert_eq!(sorted(merged.take()), sorted(xs));
    }

    #[test]
    fn co_group_matches_a_naive_join(
        left in prop::collection::vec((0u8..20, any::<u16>()), 0..120),
        right in prop::collection::vec((0u8..20, any::<i8>()), 0..120),
    ) {
        let p = Pipeline::new();
        let l = p.create(left.clone());
        let r = p.create(right.clone());
        let out = l.co_group_by_key("Join", &r).collect("Out");
        p.run_with(&runner(2)).unwrap();
        let got: BTreeMap<u8, (Vec<u16>, Vec<i8>)> =
            out.take().into_iter().map(|(k, (a, b))| (k, (sorted(a), sorted(b)))).collect();
        let mut want: BTreeMap<u8, (Vec<u16>, Vec<i8>)> = BTreeMap::new();
        for (k, v) in &left { want.entry(*k).or_default().0.push(*v); }
        for (k, v) in &right { want.entry(*k).or_default().1.push(*v); }
        for (a, b) in want.values_mut() { a.sort(); b.sort(); }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn group_by_key_with_many_keys_and_duplicates(xs in prop::collection::vec((0u16..500, 0u32..4), 0..600)) {
        let p = Pipeline::new();
        let out = p.create(xs.clone()).group_by_key("Group").collect("Out");
        p.run_with(&runner(2)).unwrap();
        let got: Vec<(u16, Vec<u32>)> = sorted(out.take().into_iter().map(|(k, v)| (k, sorted(v))).collect());
        let mut want: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
        for (k, v) in &xs { want.entry(*k).or_default().push(*v); }
        let want: Vec<(u16, Vec<u32>)> = want.into_iter().map(|(k, v)| (k, sorted(v))).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn one_and_many_threads_give_the_same_results(xs in prop::collection::vec(any::<u32>(), 0..300)) {
        fn run(xs: &[u32], workers: usize) -> (Vec<(u32, Vec<u64>)>, Vec<u32>) {
            let p = Pipeline::new();
            let nums = p.create(xs.to_vec());
            let big = nums
                .filter("Odd", |x| x % 2 == 1)
                .flat_map("Twice", |x| vec![u64::from(x), u64::from(x) * 3])
                .with_keys("Key", |x| (x % 17) as u32)
                .group_by_key("Group")
                .collect("G");
            let failed = nums.try_map("Check", |x| if x % 5 == 0 { Err("multiple of 5") } else { Ok(x) });
            let dead = failed.dead_letters().map("Element", |f| f.element).collect("D");
            let r = LocalRunner::new().with_parallelism(workers).with_channel_capacity(4).with_bundle_size(3);
            p.run_with(&r).unwrap();
            let g = sorted(big.take().into_iter().map(|(k, v)| (k, sorted(v))).collect());
            (g, sorted(dead.take()))
        }
        prop_assert_eq!(run(&xs, 1), run(&xs, 4));
    }
}
