//! The loop a source thread runs: pull from the source, push downstream (blocking while the
//! first step's channel is full, which is what bounds memory).

use crate::element::Element;
use crate::error::Error;
use crate::graph::ErasedSource;
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::router::Router;
use crate::window::Window;

pub(crate) fn run_source(source: Box<dyn ErasedSource>, router: Router) -> WorkerMetrics {
    let mut m = WorkerMetrics::new(0, 1);
    let iter = match source.open() {
        Ok(iter) => iter,
        Err(e) => {
            router.shared.fail(wrap(&router.step, e));
            return m;
        }
    };
    let mut iter = iter;
    loop {
        if router.shared.aborted() {
            break;
        }
        let start = std::time::Instant::now();
        let next = iter.next();
        m.busy += start.elapsed();
        let Some(item) = next else { break };
        match item {
            Ok(value) => {
                m.out[0] += 1;
                let elem = Element {
                    value,
                    window: Window::Global,
                };
                if router.route(0, elem).is_err() {
                    break;
                }
            }
            Err(e) => {
                router.shared.fail(wrap(&router.step, e));
                break;
            }
        }
    }
    m
}

/// File errors already name the file; other errors get the step name.
fn wrap(step: &str, e: Error) -> Error {
    match e {
        Error::Io { .. }
        | Error::Json { .. }
        | Error::NoMatch { .. }
        | Error::InvalidGlob { .. } => e,
        other => Error::SourceFailed {
            step: step.to_string(),
            message: other.to_string(),
        },
    }
}
