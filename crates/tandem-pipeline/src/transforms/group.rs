//! `group_by_key` and per-key combines (`combine_per_key`, `count_per_key`, counts).
//!
//! Grouping steps are partitioned by key ([`Placement::ByKey`]) and hold a pane per key and
//! window until the window's trigger fires (see [`crate::window`]): at the latest when the
//! input watermark passes the end of the window, which for the global window is the end of
//! input. Combines fold values as they arrive, so they hold one accumulator per key and window
//! rather than every value.

use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::element::{debug_text, downcast, panic_message, Elem, Element};
use crate::error::Error;
use crate::graph::{Accounting, CollectionId, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::runner::api::{
    ExecContext, Executor, Failure, KvCodec, Outputs, Placement, ProcessError, ShuffleCodec,
};
use crate::timestamp::Timestamp;
use crate::transforms::panes::{Added, Fired, Panes};

/// Bound for grouping keys: hashable, comparable, and serialisable so a distributed runner can
/// shuffle by key.
pub trait Key: Elem + Hash + Eq + Serialize + DeserializeOwned {}
impl<T: Elem + Hash + Eq + Serialize + DeserializeOwned> Key for T {}

/// Bound for values that cross a shuffle.
pub trait ShuffleValue: Elem + Serialize + DeserializeOwned {}
impl<T: Elem + Serialize + DeserializeOwned> ShuffleValue for T {}

type Fold<A, V> = Arc<dyn Fn(A, V) -> A + Send + Sync>;

/// Emits fired panes as `shape(key, acc)` at the end of their window.
pub(crate) fn emit_panes<K, A>(
    out: &mut Outputs,
    fired: Vec<Fired<K, A>>,
    shape: impl Fn(K, A) -> Result<crate::element::AnyBox, String>,
) -> Result<(), String> {
    for f in fired {
        out.push_element(
            0,
            Element {
                value: shape(f.key, f.acc)?,
                timestamp: f.window.max_timestamp(),
                window: f.window,
            },
        );
    }
    Ok(())
}

/// Folds `(K, V)` elements into one `A` per key and window; emits `(K, A)` when a pane fires.
struct FoldExec<K, V, A> {
    panes: Panes<K, A>,
    init: A,
    fold: Fold<A, V>,
    /// Whether `fold` is user code that may panic (then the element is kept for the error).
    user_code: bool,
    step: String,
}

fn shape_kv<K: Key, A: Elem>(k: K, a: A) -> Result<crate::element::AnyBox, String> {
    Ok(Box::new((k, a)))
}

impl<K: Key, V: Elem, A: Elem> Executor for FoldExec<K, V, A> {
    fn process(
        &mut self,
        _port: usize,
        elem: Element,
        out: &mut Outputs,
    ) -> Result<(), ProcessError> {
        out.current = Some((elem.timestamp, elem.window));
        let (k, v): (K, V) = downcast(elem.value).map_err(|message| ProcessError::Step {
            phase: "process",
            message,
        })?;
        let shown = self.user_code.then(|| debug_text(&(&k, &v)));
        let init = &self.init;
        let fold = &self.fold;
        let added = self.panes.add(
            elem.window,
            k,
            || init.clone(),
            |acc| {
                // Move the accumulator out (leaving a cheap `init`) rather than cloning it per value.
                let taken = std::mem::replace(acc, init.clone());
                match catch_unwind(AssertUnwindSafe(|| fold(taken, v))) {
                    Ok(next) => {
                        *acc = next;
                        Ok(())
                    }
                    Err(payload) => Err(panic_message(payload.as_ref())),
                }
            },
        );
        let fired = match added {
            Ok(Added::Held) => Vec::new(),
            Ok(Added::Early(f)) => vec![f],
            Ok(Added::Late(f)) => {
                out.counts.late += 1;
                vec![f]
            }
            Err(message) => {
                return Err(ProcessError::Element(Failure {
                    dead_letter: Box::new(()),
                    element: shown.unwrap_or_default(),
                    message: format!("{message} (in `{}`)", self.step),
                    timestamp: elem.timestamp,
                    window: elem.window,
                }))
            }
        };
        emit_panes(out, fired, shape_kv).map_err(|message| ProcessError::Step {
            phase: "process",
            message,
        })
    }

    fn observes_watermark(&self) -> bool {
        true
    }

    fn on_watermark(&mut self, watermark: Timestamp, out: &mut Outputs) -> Result<(), String> {
        emit_panes(out, self.panes.advance(watermark), shape_kv)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.panes.next_deadline()
    }

    fn on_deadline(&mut self, out: &mut Outputs) -> Result<(), String> {
        emit_panes(out, self.panes.due(), shape_kv)
    }

    fn hold(&self) -> Option<Timestamp> {
        self.panes.hold()
    }

    fn held(&self) -> usize {
        self.panes.held()
    }
}

/// Checks that grouping `inputs` can ever emit before end of input when they are unbounded;
/// records a build error otherwise.
pub(crate) fn check_groupable(pipeline: &crate::Pipeline, step: &str, inputs: &[CollectionId]) {
    let mut g = pipeline.graph();
    let stuck = inputs.iter().any(|&c| {
        g.collections
            .get(c)
            .is_some_and(|col| !col.bounded && !col.windowing.can_fire_before_end())
    });
    if stuck {
        g.build_errors.push(Error::UnboundedGroupWithoutWindow {
            step: step.to_string(),
        });
    }
    // Panes are keyed by each element's own window but fire by the first input's windowing:
    // inputs windowed differently would never meet (Beam rejects them at construction too).
    let window_fns: Vec<_> = inputs
        .iter()
        .filter_map(|&c| g.collections.get(c).map(|col| col.windowing.window_fn))
        .collect();
    if window_fns.windows(2).any(|w| w[0] != w[1]) {
        g.build_errors.push(Error::InvalidGraph {
            reason: format!(
                "grouping step `{step}` joins inputs with different windowing ({window_fns:?}); \
                 apply the same window_into to every input"
            ),
        });
    }
}

impl<K: Key, V: ShuffleValue> PCollection<(K, V)> {
    fn fold_step<A: Elem>(
        &self,
        name: String,
        kind: StepKind,
        init: A,
        fold: Fold<A, V>,
        user_code: bool,
    ) -> PCollection<(K, A)> {
        check_groupable(&self.pipeline, &name, &[self.id]);
        // `A` need not be `Sync`; the factory is shared between threads.
        let init = std::sync::Mutex::new(init);
        let factory = Arc::new(move |ctx: &ExecContext| -> Box<dyn Executor> {
            Box::new(FoldExec::<K, V, A> {
                panes: Panes::new(&ctx.windowing),
                init: init.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                fold: Arc::clone(&fold),
                user_code,
                step: ctx.step.clone(),
            })
        });
        let mut g = self.pipeline.graph();
        let step = g.add_step(StepSpec {
            name,
            kind,
            inputs: vec![self.id],
            placement: Placement::ByKey(vec![
                Arc::new(KvCodec::<K, V>::new()) as Arc<dyn ShuffleCodec>
            ]),
            accounting: Accounting::Variable,
            exec: StepExec::Worker(factory),
        });
        let out = g.add_output::<(K, A)>(step, "main", None, None);
        drop(g);
        self.pipeline.handle(out)
    }

    /// Collects all values of each key (per window) into one `(key, values)` element.
    pub fn group_by_key(&self, name: impl Into<String>) -> PCollection<(K, Vec<V>)> {
        let fold: Fold<Vec<V>, V> = Arc::new(|mut acc: Vec<V>, v| {
            acc.push(v);
            acc
        });
        self.fold_step(name.into(), StepKind::GroupByKey, Vec::new(), fold, false)
    }

    /// Folds the values of each key (per window), starting from `init`; emits `(key, acc)`.
    /// Holds one accumulator per key, not every value.
    pub fn combine_per_key<A: Elem, F>(
        &self,
        name: impl Into<String>,
        init: A,
        fold: F,
    ) -> PCollection<(K, A)>
    where
        F: Fn(A, V) -> A + Send + Sync + 'static,
    {
        self.fold_step(
            name.into(),
            StepKind::GroupByKey,
            init,
            Arc::new(fold),
            true,
        )
    }

    /// Number of elements per key (per window).
    pub fn count_per_key(&self, name: impl Into<String>) -> PCollection<(K, u64)> {
        let fold: Fold<u64, V> = Arc::new(|n, _| n + 1);
        self.fold_step(name.into(), StepKind::GroupByKey, 0u64, fold, false)
    }
}

impl<T: Elem> PCollection<T> {
    /// Number of elements (per window), as a single-element collection. Steps are named
    /// `<name>/Pair`, `<name>` and `<name>/Value`.
    pub fn count_globally(&self, name: impl Into<String>) -> PCollection<u64> {
        let name = name.into();
        self.map(format!("{name}/Pair"), |_| ((), ()))
            .count_per_key(name.clone())
            .values(format!("{name}/Value"))
            .output()
    }
}

impl<T: Key> PCollection<T> {
    /// Number of occurrences of each distinct element (per window).
    pub fn count_per_element(&self, name: impl Into<String>) -> PCollection<(T, u64)> {
        let name = name.into();
        self.map(format!("{name}/Pair"), |x| (x, ()))
            .count_per_key(name)
    }
}
