//! The loop a source thread runs: pull timestamped events from one split of a source and
//! push elements downstream (blocking while the first step's channel is full, which is what
//! bounds memory), advancing the source's watermark in the progress tracker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::element::{panic_message, Element};
use crate::error::Error;
use crate::io::source::SourceEvent;
use crate::runner::api::SourceInstance;
use crate::runner::local::metrics::WorkerMetrics;
use crate::runner::local::progress::Progress;
use crate::runner::local::router::Router;
use crate::runner::StopHandle;
use crate::window::Window;

pub(crate) fn run_source(
    step: usize,
    source: SourceInstance,
    router: Router,
    progress: Arc<Progress>,
    stop: StopHandle,
    max_drift: Option<u64>,
    emitted: Arc<AtomicU64>,
) -> WorkerMetrics {
    let mut m = WorkerMetrics::new(0, 1);
    let events = match source.open(0, 1) {
        Ok(events) => events,
        Err(e) => {
            router.shared.fail(wrap(&router.step, e));
            progress.close_source(step);
            progress.wake_all();
            return m;
        }
    };
    let targets = router.target_steps(0);
    let mut events = events;
    // User code also runs while routing (an element's `Clone` for a second reader): a panic
    // there must still close the source and fail the run, or every reader waits forever.
    let pumped = catch_unwind(AssertUnwindSafe(|| loop {
        if router.shared.aborted() || stop.is_stopped() {
            break;
        }
        let start = std::time::Instant::now();
        let next = events.next();
        m.busy += start.elapsed();
        let Some(event) = next else { break };
        match event {
            Ok(SourceEvent::Element { timestamp, .. }) if timestamp.is_max() => {
                // `MAX` means end of input; counted there an element holds nothing back.
                router.shared.fail(Error::SourceFailed {
                    step: router.step.clone(),
                    message: String::from(
                        "element stamped Timestamp::MAX (the end-of-input watermark); \
                         the latest timestamp an element may carry is u64::MAX - 1",
                    ),
                });
                progress.wake_all();
                break;
            }
            Ok(SourceEvent::Element { value, timestamp }) => {
                if let Some(drift) = max_drift {
                    progress.wait_for_drift(step, timestamp, drift, || {
                        router.shared.aborted() || stop.is_stopped()
                    });
                }
                // Refused once the source was closed by a stop: the element was never taken in.
                if !progress.try_produce(step, timestamp, &targets) {
                    break;
                }
                m.out[0] += 1;
                emitted.fetch_add(1, Ordering::SeqCst);
                let elem = Element {
                    value,
                    timestamp,
                    window: Window::Global,
                };
                if router.route(0, elem, true).is_err() {
                    break;
                }
            }
            Ok(SourceEvent::Watermark(t)) => progress.advance_source(step, t),
            Err(e) => {
                router.shared.fail(wrap(&router.step, e));
                progress.wake_all();
                break;
            }
        }
    }));
    if let Err(payload) = pumped {
        router.shared.fail(Error::SourceFailed {
            step: router.step.clone(),
            message: panic_message(payload.as_ref()),
        });
        progress.wake_all();
    }
    progress.close_source(step);
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
