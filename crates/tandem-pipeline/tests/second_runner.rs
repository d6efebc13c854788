//! A second runner, written here outside the crate against the public runner API only: a
//! plain sequential interpreter. It runs the pipeline conformance set (map, filter, partition,
//! flatten, group, combine, co-group, windows, dead letters, RunInference) and must give the
//! same results as `LocalRunner`. If this file compiles and passes, the runner API is enough
//! to execute any graph, which is what the timely-dataflow runner relies on.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use tandem_handler::{HandlerError, ModelHandler, ModelHandlerExt};
use tandem_pipeline::runner::api::{Element, Outputs, ProcessError, SourceEvent, StepView};
use tandem_pipeline::{
    Collected, Error, FixedWindows, Graph, LocalRunner, Pipeline, RunInference, RunReport, Runner,
    StepKind, StepMetrics, Timestamp,
};

/// Runs every step to completion in topological order: all input of a step is processed, then
/// its input watermark jumps to the end of input. One instance per step.
struct Sequential;

impl Runner for Sequential {
    fn run_graph(&self, mut graph: Graph) -> tandem_pipeline::Result<RunReport> {
        let started = std::time::Instant::now();
        let n = graph.steps().len();
        let mut queues: Vec<VecDeque<(usize, Element)>> = (0..n).map(|_| VecDeque::new()).collect();
        let mut metrics = Vec::with_capacity(n);
        for sid in 0..n {
            let mut out = Outputs::new();
            let mut m = Counts::default();
            if graph.step(sid).map(|s| s.kind()) == Some(StepKind::Source) {
                let source = graph.take_source(sid).ok_or(Error::AlreadyRun)?;
                for event in source.open(0, 1)? {
                    if let SourceEvent::Element { value, timestamp } = event? {
                        out.take_counts();
                        m.outputs += 1;
                        route(&graph, sid, 0, Element::new(value, timestamp), &mut queues);
                    }
                }
            } else {
                let step = graph.step(sid).ok_or(Error::AlreadyRun)?;
                let mut exec = graph.instantiate(sid, &step.context(0, 1))?;
                exec.setup().map_err(|m| failed(&step, "setup", m))?;
                exec.start_bundle(&mut out)
                    .map_err(|m| failed(&step, "start_bundle", m))?;
                drain(&graph, &step, &mut out, &mut queues, &mut m)?;
                while let Some((port, elem)) = queues[sid].pop_front() {
                    m.inputs += 1;
                    match exec.process(port, elem, &mut out) {
                        Ok(()) => {}
                        Err(ProcessError::Element(f)) => out.push_failure(f),
                        Err(ProcessError::Step { phase, message }) => {
                            return Err(failed(&step, phase, message))
                        }
                    }
                    drain(&graph, &step, &mut out, &mut queues, &mut m)?;
                }
                exec.finish_bundle(&mut out)
                    .map_err(|m| failed(&step, "finish_bundle", m))?;
                exec.on_watermark(Timestamp::MAX, &mut out)
                    .map_err(|m| failed(&step, "on_watermark", m))?;
                drain(&graph, &step, &mut out, &mut queues, &mut m)?;
                assert_eq!(
                    exec.hold(),
                    None,
                    "`{}` holds state after its input ended",
                    step.name()
                );
                exec.teardown();
            }
            metrics.push(m);
        }
        let steps = graph
            .steps()
            .zip(&metrics)
            .map(|(s, m)| StepMetrics {
                name: s.name().to_string(),
                kind: s.kind(),
                workers: 1,
                elements_in: if s.kind() == StepKind::Source {
                    m.outputs
                } else {
                    m.inputs
                },
                elements_out: m.outputs,
                outputs: Vec::new(),
                dead_lettered: m.dead,
                filtered: m.filtered,
                written: m.written,
                late: m.late,
                busy: Duration::ZERO,
                max_queued: 0,
                max_held: 0,
                accounting: s.accounting(),
            })
            .collect();
        Ok(RunReport {
            steps,
            wall_time: started.elapsed(),
            inference: graph.inference_report(),
        })
    }
}

#[derive(Default)]
struct Counts {
    inputs: u64,
    outputs: u64,
    dead: u64,
    filtered: u64,
    written: u64,
    late: u64,
}

fn failed(step: &StepView<'_>, phase: &'static str, message: String) -> Error {
    Error::StepFailed {
        step: step.name().to_string(),
        phase,
        message,
    }
}

/// Sends `elem` from output `port` of `from` to every consumer, cloning for all but the last.
fn route(
    graph: &Graph,
    from: usize,
    port: usize,
    elem: Element,
    queues: &mut [VecDeque<(usize, Element)>],
) {
    let Some(step) = graph.step(from) else { return };
    let Some(col) = step.outputs().get(port).and_then(|&c| graph.collection(c)) else {
        return;
    };
    let consumers = col.consumers();
    let Some(((last, last_port), rest)) = consumers.split_last() else {
        return;
    };
    for &(t, p) in rest {
        let copy = Element {
            value: col.clone_element(&elem.value),
            timestamp: elem.timestamp,
            window: elem.window,
        };
        queues[t].push_back((p, copy));
    }
    queues[*last].push_back((*last_port, elem));
}

fn drain(
    graph: &Graph,
    step: &StepView<'_>,
    out: &mut Outputs,
    queues: &mut [VecDeque<(usize, Element)>],
    m: &mut Counts,
) -> tandem_pipeline::Result<()> {
    let c = out.take_counts();
    m.filtered += c.filtered;
    m.written += c.written;
    m.late += c.late;
    for (port, elem) in out.take_elements() {
        m.outputs += 1;
        route(graph, step.id(), port, elem, queues);
    }
    for f in out.take_failures() {
        match step.dead_letter_port() {
            Some(port) => {
                m.dead += 1;
                route(
                    graph,
                    step.id(),
                    port,
                    Element {
                        value: f.dead_letter,
                        timestamp: f.timestamp,
                        window: f.window,
                    },
                    queues,
                );
            }
            None => {
                return Err(Error::ElementFailed {
                    step: step.name().to_string(),
                    element: f.element,
                    message: f.message,
                })
            }
        }
    }
    Ok(())
}

/// `y = 10·x`, refusing negative inputs.
struct Scaler;

impl ModelHandler for Scaler {
    type Example = f32;
    type Prediction = f32;
    type Model = f32;
    type Args = ();
    fn load_model(&self) -> Result<f32, HandlerError> {
        Ok(10.0)
    }
    fn run_inference(&self, batch: &[&f32], scale: &f32, _: &()) -> Result<Vec<f32>, HandlerError> {
        batch
            .iter()
            .map(|&&x| match x >= 0.0 {
                true => Ok(scale * x),
                false => Err(HandlerError::inference(format!("negative input {x}"))),
            })
            .collect()
    }
    fn model_id(&self) -> String {
        "scaler".into()
    }
}

/// The conformance set: one pipeline using every transform, with its results as text.
fn conformance(p: &Pipeline) -> Collected<String> {
    let nums = p.create(0..200i64);
    let evens_odds = nums.partition("Parity", 2, |x, _| (*x % 2) as usize);
    let squares = evens_odds[0].map("Square", |x| x * x);
    let tripled = evens_odds[1].flat_map("Triple", |x| vec![x, x, x]);
    let merged = squares.flatten_with("Merge", &[&tripled]);
    let kept = merged.filter("Small", |x| *x < 5_000);
    let keyed = kept.map("ByTens", |x| (x % 10, x));
    let grouped = keyed.group_by_key("Group").map("SortGroup", |(k, mut vs)| {
        vs.sort();
        format!("group {k}: {vs:?}")
    });
    let sums = keyed
        .combine_per_key("Sum", 0i64, |a, x| a + x)
        .map("ShowSum", |(k, s)| format!("sum {k}: {s}"));
    let labels = p
        .create((0..10i64).map(|k| (k, format!("label-{k}"))))
        .named("Labels");
    let joined = keyed
        .co_group_by_key("Join", &labels)
        .map("ShowJoin", |(k, (mut vs, ls))| {
            vs.sort();
            format!("join {k}: {} values, labels {ls:?}", vs.len())
        });
    let windowed = p
        .create(0..30u32)
        .named("Timed")
        .window_into("Window", FixedWindows::new(7))
        .map("One", |x| ((), x))
        .combine_per_key("WindowSum", 0u32, |a, x| a + x)
        .map("ShowWindow", |(_, s)| format!("window sum {s}"));
    let checked =
        p.create(vec![1u32, 0, 4, 0, 2])
            .named("Divisors")
            .try_map("Divide", |d| match d {
                0 => Err("division by zero"),
                d => Ok(100 / d),
            });
    let dead = checked
        .dead_letters()
        .map("ShowDead", |f| format!("dead {}: {}", f.element, f.error));
    let alive = checked.map("ShowAlive", |q| format!("quotient {q}"));
    let inferred = p
        .create(vec![1.0f32, -2.0, 3.0])
        .named("Inputs")
        .map("Key", |x| (format!("{x}"), x))
        .run_inference("RunInference", RunInference::new(Scaler.keyed()));
    let served = inferred.map("ShowServed", |r| {
        format!("served {}: {}", r.example.0, r.inference)
    });
    let refused = inferred.dead_letters().map("ShowRefused", |f| {
        format!("refused {}: {}", f.element.0, f.error)
    });
    grouped
        .flatten_with(
            "All",
            &[&sums, &joined, &windowed, &dead, &alive, &served, &refused],
        )
        .collect("Out")
}

fn run(
    runner: &dyn Fn(Pipeline) -> tandem_pipeline::Result<RunReport>,
) -> (Vec<String>, RunReport) {
    let p = Pipeline::new();
    let out = conformance(&p);
    let report = runner(p).unwrap();
    (common::sorted(out.take()), report)
}

#[test]
fn a_sequential_runner_on_the_public_api_matches_the_local_runner() {
    let (local, local_report) =
        run(&|p| p.run_with(&LocalRunner::new().with_parallelism(3).with_bundle_size(5)));
    let (seq, seq_report) = run(&|p| p.run_with(&Sequential));
    assert_eq!(local, seq);
    assert!(local.iter().any(|l| l.starts_with("window sum")));
    assert_eq!(
        local
            .iter()
            .filter(|l| l.starts_with("refused -2: "))
            .count(),
        1
    );
    assert_eq!(local.iter().filter(|l| l.starts_with("served ")).count(), 2);
    assert_eq!(local.iter().filter(|l| l.starts_with("dead ")).count(), 2);
    for (a, b) in local_report.steps.iter().zip(&seq_report.steps) {
        assert_eq!(
            (
                &a.name,
                a.elements_in,
                a.elements_out,
                a.dead_lettered,
                a.filtered,
                a.written
            ),
            (
                &b.name,
                b.elements_in,
                b.elements_out,
                b.dead_lettered,
                b.filtered,
                b.written
            ),
        );
    }
    common::assert_balanced(&local_report);
    common::assert_balanced(&seq_report);
}
