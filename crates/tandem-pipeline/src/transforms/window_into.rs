//! `window_into`: assign elements to event-time windows by their timestamps.

use std::sync::Arc;

use crate::element::{CloneFn, Elem, Element};
use crate::graph::{Accounting, StepKind};
use crate::pcollection::{ElementWise, PCollection};
use crate::runner::api::{ExecContext, Executor, Outputs, Placement, ProcessError};
use crate::window::{WindowFn, Windowing};

struct WindowExec {
    window_fn: WindowFn,
    clone: CloneFn,
}

impl Executor for WindowExec {
    fn process(
        &mut self,
        _port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        let mut windows = self.window_fn.assign(elem.timestamp);
        // Every element is in at least one window: its timestamp's fixed window, or the
        // sliding windows covering it (at least the one starting at or before it).
        let last = windows.pop().unwrap_or(crate::window::Window::Global);
        for window in windows {
            out.push_element(
                0,
                Element {
                    value: (self.clone)(&elem.value),
                    timestamp: elem.timestamp,
                    window,
                },
            );
        }
        out.push_element(
            0,
            Element {
                value: elem.value,
                timestamp: elem.timestamp,
                window: last,
            },
        );
        Ok(())
    }
}

impl<T: Elem> PCollection<T> {
    /// Assigns each element to the windows of `windowing` that contain its timestamp (Beam's
    /// `WindowInto`), and sets the trigger grouping steps downstream fire by. Fixed windows
    /// keep one element per input; sliding windows emit a copy per window it falls in.
    ///
    /// ```
    /// use tandem_pipeline::{FixedWindows, Pipeline};
    /// let p = Pipeline::new();
    /// // Positions 0..6 in windows of 3: [0,3) and [3,6).
    /// let sums = p.create(vec![1u32, 2, 3, 10, 20, 30])
    ///     .window_into("Window", FixedWindows::new(3))
    ///     .map("Key", |x| ((), x))
    ///     .combine_per_key("Sum", 0u32, |a, x| a + x)
    ///     .collect("Out");
    /// p.run()?;
    /// let mut got: Vec<u32> = sums.take().into_iter().map(|(_, s)| s).collect();
    /// got.sort();
    /// assert_eq!(got, vec![6, 60]);
    /// # Ok::<(), tandem_pipeline::Error>(())
    /// ```
    pub fn window_into(
        &self,
        name: impl Into<String>,
        windowing: impl Into<Windowing>,
    ) -> PCollection<T> {
        let windowing = windowing.into();
        let window_fn = windowing.window_fn;
        let exact = !matches!(window_fn, WindowFn::Sliding { .. });
        let factory = Arc::new(move |_: &ExecContext| -> Box<dyn Executor> {
            Box::new(WindowExec {
                window_fn,
                clone: crate::element::clone_fn::<T>(),
            })
        });
        let out: PCollection<T> = self.add_element_wise(ElementWise {
            name: name.into(),
            kind: StepKind::ParDo,
            accounting: if exact {
                Accounting::Exact
            } else {
                Accounting::Variable
            },
            placement: Placement::PerWorker,
            factory,
        });
        if let Some(c) = self.pipeline.graph().collections.get_mut(out.id) {
            c.windowing = windowing;
        }
        out
    }
}
