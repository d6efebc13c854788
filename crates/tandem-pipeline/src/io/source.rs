//! The `Source` contract, `Pipeline::read`, and `Pipeline::create` (from an iterator).

use crate::element::{AnyBox, Elem};
use crate::error::Error;
use crate::graph::{Accounting, ErasedSource, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::pipeline::Pipeline;

/// Lazily produced elements; an `Err` item fails the run naming the source.
pub type ElementIter<T> = Box<dyn Iterator<Item = Result<T, Error>> + Send>;

/// Somewhere elements come from. The runner opens it once, on one thread, and pulls elements
/// only as fast as downstream steps accept them, so a source should produce lazily.
pub trait Source: Send + 'static {
    /// Element type.
    type Item: Elem;
    /// The step name used when the caller does not rename it.
    fn default_name(&self) -> String;
    /// `false` for sources that run until closed (a channel, stdin). Grouping an unbounded
    /// collection needs a window.
    fn is_bounded(&self) -> bool {
        true
    }
    /// Starts producing. Errors here (a missing folder) fail the run.
    fn open(self) -> Result<ElementIter<Self::Item>, Error>;
}

struct SourceBox<S>(S);

impl<S: Source> ErasedSource for SourceBox<S> {
    fn open(
        self: Box<Self>,
    ) -> Result<Box<dyn Iterator<Item = Result<AnyBox, Error>> + Send>, Error> {
        let iter = self.0.open()?;
        Ok(Box::new(iter.map(|r| r.map(|t| Box::new(t) as AnyBox))))
    }
}

/// A source over any iterator; what [`Pipeline::create`] uses.
pub struct IterSource<I> {
    iter: I,
}

impl<I> IterSource<I> {
    /// Wraps `iter`.
    pub fn new(iter: I) -> Self {
        Self { iter }
    }
}

impl<T: Elem, I: Iterator<Item = T> + Send + 'static> Source for IterSource<I> {
    type Item = T;
    fn default_name(&self) -> String {
        String::from("Create")
    }
    fn open(self) -> Result<ElementIter<T>, Error> {
        Ok(Box::new(self.iter.map(Ok)))
    }
}

impl Pipeline {
    /// Adds a source step.
    pub fn read<S: Source>(&self, source: S) -> PCollection<S::Item> {
        let name = source.default_name();
        let bounded = source.is_bounded();
        let mut g = self.graph();
        let step = g.add_step(StepSpec {
            name,
            kind: StepKind::Source,
            inputs: Vec::new(),
            single_instance: true,
            accounting: Accounting::Variable,
            exec: StepExec::Source(Some(Box::new(SourceBox(source)))),
            shuffle: None,
        });
        let out = g.add_output::<S::Item>(step, "main", Some(bounded), Some(None));
        drop(g);
        self.handle(out)
    }

    /// A bounded collection of the given elements, produced lazily (a `0..1_000_000` range is
    /// never materialised).
    pub fn create<I>(&self, items: I) -> PCollection<I::Item>
    where
        I: IntoIterator,
        I::Item: Elem,
        I::IntoIter: Send + 'static,
    {
        self.read(IterSource::new(items.into_iter()))
    }
}
