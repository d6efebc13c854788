//! `flatten`: merge collections of one type into one.

use std::sync::Arc;

use crate::element::{Elem, Element};
use crate::error::Error;
use crate::graph::{Accounting, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::runner::api::{ExecContext, Executor, Outputs, Placement, ProcessError};

struct FlattenExec;

impl Executor for FlattenExec {
    fn process(
        &mut self,
        _port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        out.push_element(0, elem);
        Ok(())
    }
}

impl<T: Elem> PCollection<T> {
    /// The union of `self` and `others` (a multiset: nothing is deduplicated). The result is
    /// unbounded if any input is, and takes `self`'s windowing.
    pub fn flatten_with(
        &self,
        name: impl Into<String>,
        others: &[&PCollection<T>],
    ) -> PCollection<T> {
        let mut inputs = vec![self.id];
        for other in others {
            if other.pipeline.same_as(&self.pipeline) {
                inputs.push(other.id);
            } else {
                self.pipeline
                    .graph()
                    .build_errors
                    .push(Error::InvalidGraph {
                        reason: String::from("flatten input belongs to another pipeline"),
                    });
            }
        }
        let factory = Arc::new(|_: &ExecContext| -> Box<dyn Executor> { Box::new(FlattenExec) });
        let mut g = self.pipeline.graph();
        let step = g.add_step(StepSpec {
            name: name.into(),
            kind: StepKind::Flatten,
            inputs,
            placement: Placement::PerWorker,
            accounting: Accounting::Exact,
            exec: StepExec::Worker(factory),
        });
        let out = g.add_output::<T>(step, "main", None, None);
        drop(g);
        self.pipeline.handle(out)
    }
}
