//! 100k elements through one engine: everything comes out, and the engine never holds more
//! than its bound of waiting elements.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{options, temp_dir, write_weights, Linear};
use tandem_handler::{BatchConfig, Bucketing, InferenceEngine, ManualClock};

#[test]
fn hundred_thousand_elements_with_bounded_buffering() {
    let dir = temp_dir("volume");
    let path = dir.join("m.safetensors");
    write_weights(&path, &[1.0; 8], 0.0);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 64,
        max_wait: Duration::from_millis(5),
        bucketing: Bucketing::Exact,
        ..Default::default()
    };
    let mut linear = Linear::new(&path, cfg);
    linear.bucket_by_length = true; // 8 length buckets filling at different rates
    let handler = Arc::new(linear);
    let bound = 100;
    let opts = options("volume", &clock).with_max_buffered(bound);
    let mut engine = InferenceEngine::new(handler, (), opts).unwrap();
    let n = 100_000usize;
    let mut served = 0usize;
    let mut dead = 0usize;
    let mut checksum = 0.0f64;
    let mut peak = 0;
    for i in 0..n {
        let len = 1 + (i * 2_654_435_761usize) % 8;
        let poison = i % 10_007 == 3;
        let value = if poison { f32::NAN } else { (i % 100) as f32 };
        let out = engine.push(vec![value; len]);
        peak = peak.max(engine.buffered());
        for r in &out.results {
            checksum += f64::from(r.inference);
        }
        served += out.results.len();
        dead += out.dead_letters.len();
        if i % 1000 == 0 {
            clock.advance(Duration::from_millis(1));
            let out = engine.poll();
            served += out.results.len();
            dead += out.dead_letters.len();
            checksum += out
                .results
                .iter()
                .map(|r| f64::from(r.inference))
                .sum::<f64>();
        }
    }
    let out = engine.flush();
    served += out.results.len();
    dead += out.dead_letters.len();
    checksum += out
        .results
        .iter()
        .map(|r| f64::from(r.inference))
        .sum::<f64>();

    let poison = (0..n).filter(|i| i % 10_007 == 3).count();
    assert_eq!((served, dead), (n - poison, poison));
    assert!(peak <= bound, "peak buffered {peak} exceeds {bound}");
    let expected: f64 = (0..n)
        .filter(|i| i % 10_007 != 3)
        .map(|i| ((i % 100) * (1 + (i * 2_654_435_761usize) % 8)) as f64)
        .sum();
    assert_eq!(checksum, expected);
    assert_eq!(engine.buffered(), 0);
}

/// `max_buffered` is a bound, not a trigger: exactly `max_buffered` waiting elements stay
/// waiting (no batch runs early), one more runs the oldest bucket.
#[test]
fn max_buffered_elements_wait_and_one_more_runs_the_oldest() {
    let dir = temp_dir("bound");
    let path = dir.join("m.safetensors");
    write_weights(&path, &[1.0; 4], 0.0);
    let clock = ManualClock::new();
    let cfg = BatchConfig {
        max_batch_size: 100,
        max_wait: Duration::from_secs(3600),
        ..Default::default()
    };
    let handler = Arc::new(Linear::new(&path, cfg));
    let opts = options("bound", &clock).with_max_buffered(3);
    let mut engine = InferenceEngine::new(handler.clone(), (), opts).unwrap();
    for i in 0..3 {
        let out = engine.push(vec![i as f32; 4]);
        assert!(out.results.is_empty() && out.dead_letters.is_empty());
    }
    assert_eq!(engine.buffered(), 3, "at the bound, everything waits");
    assert!(handler.sizes().is_empty(), "no batch ran at the bound");
    let out = engine.push(vec![3.0; 4]);
    assert_eq!(
        out.results.len(),
        4,
        "past the bound the oldest bucket runs"
    );
    assert_eq!(handler.sizes(), vec![4]);
    assert_eq!(engine.buffered(), 0);
}
