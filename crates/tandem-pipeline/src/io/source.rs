//! The `Source` contract, `Pipeline::read`, and `Pipeline::create` (from an iterator).

use crate::element::{AnyBox, Elem};
use crate::error::Error;
use crate::graph::{Accounting, ErasedSource, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::pipeline::Pipeline;
use crate::runner::api::Placement;
use crate::timestamp::Timestamp;

/// Lazily produced elements; an `Err` item fails the run naming the source.
pub type ElementIter<T> = Box<dyn Iterator<Item = Result<T, Error>> + Send>;

/// What a source produces: an element with its event time, or a promise about the future.
#[derive(Debug)]
pub enum SourceEvent<T> {
    /// An element stamped with its event time.
    Element {
        /// The value.
        value: T,
        /// Its event time.
        timestamp: Timestamp,
    },
    /// No later element of this source will carry a timestamp below this one (the source's
    /// watermark). Watermarks only move forward; a lower one is ignored.
    Watermark(Timestamp),
}

/// Timestamped events of one split of a source.
pub type EventIter<T> = Box<dyn Iterator<Item = Result<SourceEvent<T>, Error>> + Send>;

/// Somewhere elements come from. The runner opens it once per worker it runs the source on,
/// and pulls events only as fast as downstream steps accept them, so a source should produce
/// lazily.
///
/// Event time: by default ([`Source::open_split`]) every element is stamped with its
/// **position** in `open`'s order (0, 1, 2, ...) and the watermark follows the positions, so
/// windows of `n` positions close as soon as their `n` elements have passed. A source that
/// knows real event times overrides `open_split` and emits [`SourceEvent`]s itself.
pub trait Source: Send + 'static {
    /// Element type.
    type Item: Elem;
    /// The step name used when the caller does not rename it.
    fn default_name(&self) -> String;
    /// `false` for sources that run until closed (a channel, stdin). Grouping an unbounded
    /// collection needs windows or an early trigger.
    fn is_bounded(&self) -> bool {
        true
    }
    /// Starts producing, in a deterministic order (the same on every process that builds the
    /// pipeline, so splits by position partition it). Errors here (a missing folder) fail the
    /// run.
    fn open(self) -> Result<ElementIter<Self::Item>, Error>;
    /// The share of worker `worker` (0-based) of `peers` workers reading this source, as
    /// timestamped events. Every element is read by exactly one worker.
    ///
    /// Default: `open`, keeping positions `worker, worker + peers, ...`, each stamped with its
    /// position and followed by a watermark at the worker's next position. Sources whose
    /// elements are costly to produce (file reads) override it to skip other workers'
    /// elements without producing them.
    fn open_split(self, worker: usize, peers: usize) -> Result<EventIter<Self::Item>, Error>
    where
        Self: Sized,
    {
        Ok(positional(self.open()?, worker, peers))
    }
}

/// Stamps `items` with their positions and keeps those of `worker` among `peers`.
pub fn positional<T: Send + 'static>(
    items: ElementIter<T>,
    worker: usize,
    peers: usize,
) -> EventIter<T> {
    let peers = peers.max(1) as u64;
    let worker = worker as u64;
    Box::new(
        items
            .enumerate()
            .filter(move |(i, _)| *i as u64 % peers == worker)
            .flat_map(move |(i, item)| {
                let t = Timestamp(i as u64);
                let next = SourceEvent::Watermark(t.plus(peers));
                let first = item.map(|value| SourceEvent::Element {
                    value,
                    timestamp: t,
                });
                [Some(first), Some(Ok(next))].into_iter().flatten()
            }),
    )
}

struct SourceBox<S>(S);

impl<S: Source> ErasedSource for SourceBox<S> {
    fn open_split(
        self: Box<Self>,
        worker: usize,
        peers: usize,
    ) -> Result<EventIter<AnyBox>, Error> {
        let events = self.0.open_split(worker, peers)?;
        Ok(Box::new(events.map(|r| {
            r.map(|e| match e {
                SourceEvent::Element { value, timestamp } => SourceEvent::Element {
                    value: Box::new(value) as AnyBox,
                    timestamp,
                },
                SourceEvent::Watermark(t) => SourceEvent::Watermark(t),
            })
        })))
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
            placement: Placement::PerWorker,
            accounting: Accounting::Variable,
            exec: StepExec::Source(Some(Box::new(SourceBox(source)))),
        });
        let out = g.add_output::<S::Item>(step, "main", Some(bounded), Some(Default::default()));
        drop(g);
        self.handle(out)
    }

    /// A bounded collection of the given elements, produced lazily (a `0..1_000_000` range is
    /// never materialised), stamped with their positions.
    pub fn create<I>(&self, items: I) -> PCollection<I::Item>
    where
        I: IntoIterator,
        I::Item: Elem,
        I::IntoIter: Send + 'static,
    {
        self.read(IterSource::new(items.into_iter()))
    }
}
