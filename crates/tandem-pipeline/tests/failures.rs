//! The failure model: failed elements go to the dead-letter output or fail the run with an
//! error naming the step and element; nothing is lost either way.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{assert_balanced, runner, sorted};
use tandem_pipeline::{BoxError, DoFn, Emitter, Error, Pipeline};

/// Panics on multiples of 7; counts `setup` calls.
#[derive(Clone)]
struct Fragile {
    setups: Arc<AtomicUsize>,
}

impl DoFn for Fragile {
    type In = u32;
    type Out = u32;
    fn setup(&mut self) -> Result<(), BoxError> {
        self.setups.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn process(&mut self, x: u32, out: &mut Emitter<'_, u32, u32>) -> Result<(), BoxError> {
        // Emit before panicking: a failed element's partial outputs must be discarded.
        out.emit(x + 1000);
        if x.is_multiple_of(7) {
            panic!("cannot handle {x}");
        }
        Ok(())
    }
}

#[test]
fn panicking_dofn_with_dead_letters_loses_nothing() {
    for workers in [1, 3] {
        let setups = Arc::new(AtomicUsize::new(0));
        let p = Pipeline::new();
        let step = p
            .create(1..=100u32)
            .par_do(
                "Fragile",
                Fragile {
                    setups: Arc::clone(&setups),
                },
            )
            .with_parallelism(workers);
        let ok = step.collect("Ok");
        let dead = step.dead_letters().collect("Dead");
        let report = p.run_with(&runner(2)).unwrap();

        let ok = sorted(ok.take());
        let dead = dead.take();
        assert_eq!(
            ok,
            (1..=100u32)
                .filter(|x| x % 7 != 0)
                .map(|x| x + 1000)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            sorted(dead.iter().map(|f| f.element).collect()),
            (7..=100).step_by(7).collect::<Vec<_>>()
        );
        for f in &dead {
            assert_eq!(f.step, "Fragile");
            assert_eq!(f.error, format!("panicked: cannot handle {}", f.element));
        }
        let m = report.step("Fragile").unwrap();
        assert_eq!(
            (m.elements_in, m.elements_out, m.dead_lettered),
            (100, 86, 14)
        );
        assert_eq!(m.elements_in, m.elements_out + m.dead_lettered);
        assert_eq!(report.dead_lettered(), 14);
        assert!(
            report.summary().contains("all elements accounted for"),
            "{}",
            report.summary()
        );
        // One setup per worker, plus one per panic (the instance is replaced).
        assert_eq!(setups.load(Ordering::SeqCst), workers + 14);
        assert_balanced(&report);
    }
}

#[test]
fn panicking_dofn_without_dead_letters_fails_the_run_naming_step_and_element() {
    let p = Pipeline::new();
    p.create(1..=20u32)
        .par_do(
            "Fragile",
            Fragile {
                setups: Arc::default(),
            },
        )
        .collect("Ok");
    match p.run_with(&runner(2)) {
        Err(Error::ElementFailed {
            step,
            element,
            message,
        }) => {
            assert_eq!(step, "Fragile");
            assert!(element == "7" || element == "14", "{element}");
            assert_eq!(message, format!("panicked: cannot handle {element}"));
        }
        other => panic!("expected ElementFailed, got {other:?}"),
    }
}

#[test]
fn try_map_errors_are_dead_lettered_with_the_element_intact() {
    let p = Pipeline::new();
    let parsed = p
        .create(vec!["1", "x", "3", "", "5"].into_iter().map(String::from))
        .try_map("Parse", |s: String| s.parse::<i64>());
    let ok = parsed.collect("Ok");
    let bad = parsed.dead_letters().collect("Bad");
    let report = p.run_with(&runner(2)).unwrap();
    assert_eq!(sorted(ok.take()), vec![1, 3, 5]);
    let bad = bad.take();
    assert_eq!(
        sorted(bad.iter().map(|f| f.element.clone()).collect()),
        vec!["".to_string(), "x".to_string()]
    );
    assert!(bad
        .iter()
        .all(|f| f.error.contains("invalid digit") || f.error.contains("empty")));
    assert_balanced(&report);
}

#[test]
fn error_message_names_long_elements_truncated() {
    let p = Pipeline::new();
    p.create(vec![vec![7u8; 10_000]])
        .try_map("Reject", |_v: Vec<u8>| Err::<u8, _>("too big"))
        .collect("Out");
    let err = p.run().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("step `Reject` failed on element [7, 7"),
        "{text}"
    );
    assert!(text.ends_with("...: too big"), "{text}");
    assert!(text.len() < 400);
}

#[derive(Clone)]
struct BadSetup;

impl DoFn for BadSetup {
    type In = u8;
    type Out = u8;
    fn setup(&mut self) -> Result<(), BoxError> {
        Err("model file missing".into())
    }
    fn process(&mut self, x: u8, out: &mut Emitter<'_, u8, u8>) -> Result<(), BoxError> {
        out.emit(x);
        Ok(())
    }
}

#[test]
fn setup_errors_fail_the_run_without_hanging_upstream() {
    let p = Pipeline::new();
    // Far more elements than the channels hold: the source must notice the abort.
    p.create((0..100_000u32).map(|x| x as u8))
        .par_do("Load", BadSetup)
        .collect("Out");
    match p.run_with(&runner(1)) {
        Err(Error::StepFailed {
            step,
            phase,
            message,
        }) => {
            assert_eq!((step.as_str(), phase), ("Load", "setup"));
            assert_eq!(message, "model file missing");
        }
        other => panic!("expected StepFailed, got {other:?}"),
    }
}

#[test]
fn source_errors_name_the_file_and_line() {
    let dir = common::TempDir::new("badjson");
    std::fs::write(dir.path("a.jsonl"), "{\"id\": 1}\n\n{\"id\": oops}\n").unwrap();
    #[derive(Clone, Debug, serde::Deserialize)]
    struct Rec {
        #[allow(dead_code)]
        id: u32,
    }
    let p = Pipeline::new();
    let pattern = dir.path("*.jsonl").to_string_lossy().into_owned();
    p.read(tandem_pipeline::ReadJsonLines::<Rec>::from_glob(pattern))
        .collect("Out");
    match p.run() {
        Err(Error::Json { path, line, .. }) => {
            assert!(path.ends_with("a.jsonl"));
            assert_eq!(line, 3);
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn sink_write_errors_fail_the_run() {
    struct Refuse;
    impl tandem_pipeline::Sink<u32> for Refuse {
        fn write(&mut self, x: u32) -> Result<(), BoxError> {
            if x == 3 {
                return Err("disk full".into());
            }
            Ok(())
        }
    }
    let p = Pipeline::new();
    p.create(0..10u32).write("Store", Refuse);
    let err = p.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `Store` failed on element 3: disk full"
    );
}
