//! `flatten`: merge collections of one type into one.

use std::sync::Arc;

use crate::element::{Elem, Element};
use crate::error::Error;
use crate::exec::{ElementResult, Exec, ExecContext, Outputs};
use crate::graph::{Accounting, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;

struct FlattenExec;

impl Exec for FlattenExec {
    fn process(&mut self, _port: usize, elem: Element, out: &mut Outputs) -> ElementResult {
        out.push_in(0, elem.value, elem.window);
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
        let factory = Arc::new(|_: &ExecContext| -> Box<dyn Exec> { Box::new(FlattenExec) });
        let mut g = self.pipeline.graph();
        let step = g.add_step(StepSpec {
            name: name.into(),
            kind: StepKind::Flatten,
            inputs,
            single_instance: false,
            accounting: Accounting::Exact,
            exec: StepExec::Worker(factory),
            shuffle: None,
        });
        let out = g.add_output::<T>(step, "main", None, None);
        drop(g);
        self.pipeline.handle(out)
    }
}
