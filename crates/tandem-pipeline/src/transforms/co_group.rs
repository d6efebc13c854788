//! `co_group_by_key`: join two or more keyed collections with different value types by key.
//!
//! This is the join that puts an image back together with the captions generated for it:
//! `(id, image)` and `(id, caption)` become `(id, [image], [captions])`. Same windowing and
//! boundedness rules as `group_by_key`: partitioned by key, one pane per key and window,
//! fired by the window's trigger (at the latest when the watermark passes the window's end).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::element::{clone_fn, debug_fn, downcast, AnyBox, CloneFn, DebugFn, Element};
use crate::error::Error;
use crate::graph::{Accounting, CollectionId, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::pipeline::Pipeline;
use crate::runner::api::{
    ExecContext, Executor, KvCodec, Outputs, Placement, ProcessError, ShuffleCodec,
};
use crate::timestamp::Timestamp;
use crate::transforms::group::{check_groupable, emit_panes, Key, ShuffleValue};
use crate::transforms::panes::{Added, Panes};

static NEXT_GROUP: AtomicU64 = AtomicU64::new(1);

type Splitter<K> = Arc<dyn Fn(AnyBox) -> Result<(K, AnyBox), String> + Send + Sync>;
type Shape<K> = Arc<dyn Fn(K, Vec<Vec<AnyBox>>) -> Result<AnyBox, String> + Send + Sync>;

/// A two-way co-group's element: the key, the values from the first input, those from the
/// second.
pub type CoGrouped<K, V, W> = (K, (Vec<V>, Vec<W>));

/// Builder for an N-way co-group. Add each input with [`CoGroupByKey::add`], keep the
/// returned tags, then [`apply`](CoGroupByKey::apply).
pub struct CoGroupByKey<K> {
    pipeline: Pipeline,
    group: u64,
    inputs: Vec<CollectionId>,
    splitters: Vec<Splitter<K>>,
    codecs: Vec<Arc<dyn ShuffleCodec>>,
    fns: Vec<(CloneFn, DebugFn)>,
}

/// Selects one input's values in a [`CoGbkResult`].
#[derive(Debug)]
pub struct CoGroupTag<V> {
    index: usize,
    group: u64,
    _v: PhantomData<fn() -> V>,
}

impl<V> Clone for CoGroupTag<V> {
    fn clone(&self) -> Self {
        Self {
            index: self.index,
            group: self.group,
            _v: PhantomData,
        }
    }
}

/// The values of one key from every input of a co-group.
pub struct CoGbkResult {
    group: u64,
    values: Vec<Vec<AnyBox>>,
    fns: Arc<Vec<(CloneFn, DebugFn)>>,
}

impl Clone for CoGbkResult {
    fn clone(&self) -> Self {
        let values = self
            .values
            .iter()
            .zip(self.fns.iter())
            .map(|(vs, (clone, _))| vs.iter().map(clone).collect())
            .collect();
        Self {
            group: self.group,
            values,
            fns: Arc::clone(&self.fns),
        }
    }
}

impl std::fmt::Debug for CoGbkResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (vs, (_, debug)) in self.values.iter().zip(self.fns.iter()) {
            let shown: Vec<String> = vs.iter().map(debug).collect();
            list.entry(&shown);
        }
        list.finish()
    }
}

impl CoGbkResult {
    /// The values from the input `tag` was returned for. A tag from another co-group yields
    /// nothing.
    pub fn get<'a, V: 'static>(&'a self, tag: &CoGroupTag<V>) -> impl Iterator<Item = &'a V> + 'a {
        let vs: &[AnyBox] = if tag.group == self.group {
            self.values.get(tag.index).map_or(&[], |v| v.as_slice())
        } else {
            &[]
        };
        vs.iter().filter_map(|b| b.downcast_ref::<V>())
    }

    /// Moves out the values from the input `tag` was returned for.
    pub fn take<V: 'static>(&mut self, tag: &CoGroupTag<V>) -> Vec<V> {
        if tag.group != self.group {
            return Vec::new();
        }
        match self.values.get_mut(tag.index) {
            Some(vs) => std::mem::take(vs)
                .into_iter()
                .filter_map(|b| downcast::<V>(b).ok())
                .collect(),
            None => Vec::new(),
        }
    }
}

impl<K: Key> CoGroupByKey<K> {
    /// An empty co-group in `pipeline`.
    pub fn new(pipeline: &Pipeline) -> Self {
        Self {
            pipeline: pipeline.clone(),
            group: NEXT_GROUP.fetch_add(1, Ordering::Relaxed),
            inputs: Vec::new(),
            splitters: Vec::new(),
            codecs: Vec::new(),
            fns: Vec::new(),
        }
    }

    /// Adds an input; its values are read back from the result with the returned tag.
    pub fn add<V: ShuffleValue>(&mut self, input: &PCollection<(K, V)>) -> CoGroupTag<V> {
        if !input.pipeline.same_as(&self.pipeline) {
            self.pipeline
                .graph()
                .build_errors
                .push(Error::InvalidGraph {
                    reason: String::from("co_group_by_key input belongs to another pipeline"),
                });
        } else {
            self.inputs.push(input.id);
            self.splitters.push(Arc::new(|b: AnyBox| {
                downcast::<(K, V)>(b).map(|(k, v)| (k, Box::new(v) as AnyBox))
            }));
            self.codecs.push(Arc::new(KvCodec::<K, V>::new()));
            self.fns.push((clone_fn::<V>(), debug_fn::<V>()));
        }
        CoGroupTag {
            index: self.inputs.len().saturating_sub(1),
            group: self.group,
            _v: PhantomData,
        }
    }

    /// Adds the co-group step; one `(key, result)` per key present in any input.
    pub fn apply(self, name: impl Into<String>) -> PCollection<(K, CoGbkResult)> {
        let group = self.group;
        let fns = Arc::new(self.fns.clone());
        let shape: Shape<K> = Arc::new(move |k, values| {
            Ok(Box::new((
                k,
                CoGbkResult {
                    group,
                    values,
                    fns: Arc::clone(&fns),
                },
            )) as AnyBox)
        });
        self.apply_shaped(name.into(), shape)
    }

    pub(crate) fn apply_shaped<O: crate::Elem>(
        self,
        name: String,
        shape: Shape<K>,
    ) -> PCollection<O> {
        check_groupable(&self.pipeline, &name, &self.inputs);
        let splitters = Arc::new(self.splitters);
        let arity = self.inputs.len();
        let factory = Arc::new(move |ctx: &ExecContext| -> Box<dyn Executor> {
            Box::new(CoGroupExec {
                panes: Panes::new(&ctx.windowing),
                splitters: Arc::clone(&splitters),
                shape: Arc::clone(&shape),
                arity,
            })
        });
        let mut g = self.pipeline.graph();
        let step = g.add_step(StepSpec {
            name,
            kind: StepKind::CoGroupByKey,
            inputs: self.inputs,
            placement: Placement::ByKey(self.codecs),
            accounting: Accounting::Variable,
            exec: StepExec::Worker(factory),
        });
        let out = g.add_output::<O>(step, "main", None, None);
        drop(g);
        self.pipeline.handle(out)
    }
}

struct CoGroupExec<K> {
    panes: Panes<K, Vec<Vec<AnyBox>>>,
    splitters: Arc<Vec<Splitter<K>>>,
    shape: Shape<K>,
    arity: usize,
}

impl<K: Key> Executor for CoGroupExec<K> {
    fn process(
        &mut self,
        port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        out.current = Some((elem.timestamp, elem.window));
        let step_err = |message: String| ProcessError::Step {
            phase: "process",
            message,
        };
        let split = self
            .splitters
            .get(port)
            .ok_or_else(|| step_err(format!("no input port {port}")))?;
        let (k, v) = split(elem.value).map_err(step_err)?;
        let arity = self.arity;
        let added = self.panes.add(
            elem.window,
            k,
            || (0..arity).map(|_| Vec::new()).collect(),
            |values: &mut Vec<Vec<AnyBox>>| {
                values[port].push(v);
                Ok::<(), String>(())
            },
        );
        let fired = match added.map_err(step_err)? {
            Added::Held => Vec::new(),
            Added::Early(f) => vec![f],
            Added::Late(f) => {
                out.counts.late += 1;
                vec![f]
            }
        };
        emit_panes(out, fired, |k, v| (self.shape)(k, v)).map_err(step_err)
    }

    fn observes_watermark(&self) -> bool {
        true
    }

    fn on_watermark(&mut self, watermark: Timestamp, out: &mut Outputs) -> Result<(), String> {
        let fired = self.panes.advance(watermark);
        emit_panes(out, fired, |k, v| (self.shape)(k, v))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.panes.next_deadline()
    }

    fn on_deadline(&mut self, out: &mut Outputs) -> Result<(), String> {
        let fired = self.panes.due();
        emit_panes(out, fired, |k, v| (self.shape)(k, v))
    }

    fn hold(&self) -> Option<Timestamp> {
        self.panes.hold()
    }

    fn held(&self) -> usize {
        self.panes.held()
    }
}

impl<K: Key, V: ShuffleValue> PCollection<(K, V)> {
    /// Two-way co-group: `(key, (values from self, values from other))` for every key present
    /// in either input.
    pub fn co_group_by_key<W: ShuffleValue>(
        &self,
        name: impl Into<String>,
        other: &PCollection<(K, W)>,
    ) -> PCollection<CoGrouped<K, V, W>> {
        let mut cg = CoGroupByKey::<K>::new(&self.pipeline);
        cg.add(self);
        cg.add(other);
        let shape: Shape<K> = Arc::new(|k, mut values| {
            let ws = values.pop().unwrap_or_default();
            let vs = values.pop().unwrap_or_default();
            let vs = vs
                .into_iter()
                .map(downcast::<V>)
                .collect::<Result<Vec<_>, _>>()?;
            let ws = ws
                .into_iter()
                .map(downcast::<W>)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Box::new((k, (vs, ws))) as AnyBox)
        });
        cg.apply_shaped(name.into(), shape)
    }
}
