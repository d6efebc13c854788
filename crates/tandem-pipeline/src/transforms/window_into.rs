//! `window_into`: assign elements to fixed processing-time windows.

use std::sync::Arc;

use crate::element::{Elem, Element};
use crate::exec::{ElementResult, Exec, ExecContext, Outputs};
use crate::graph::{Accounting, StepKind};
use crate::pcollection::{ElementWise, PCollection};
use crate::window::FixedWindows;

struct WindowExec {
    windows: FixedWindows,
}

impl Exec for WindowExec {
    fn process(&mut self, _port: usize, elem: Element, out: &mut Outputs) -> ElementResult {
        out.push_in(0, elem.value, self.windows.assign_now());
        Ok(())
    }
}

impl<T: Elem> PCollection<T> {
    /// Assigns each element to the fixed window containing the processing time at which it
    /// passes this step. Grouping steps downstream then emit per window, which is what makes
    /// grouping an unbounded collection possible.
    pub fn window_into(&self, name: impl Into<String>, windows: FixedWindows) -> PCollection<T> {
        let w = windows.clone();
        let factory = Arc::new(move |_: &ExecContext| -> Box<dyn Exec> {
            Box::new(WindowExec { windows: w.clone() })
        });
        let out: PCollection<T> = self.add_element_wise(ElementWise {
            name: name.into(),
            kind: StepKind::ParDo,
            accounting: Accounting::Exact,
            single_instance: false,
            factory,
        });
        if let Some(c) = self.pipeline.graph().collections.get_mut(out.id) {
            c.windowing = Some(windows);
        }
        out
    }
}
