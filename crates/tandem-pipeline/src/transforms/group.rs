//! `group_by_key` and per-key combines (`combine_per_key`, `count_per_key`, counts).
//!
//! Grouping steps run as a single instance and hold their state in memory until a window
//! fires: the global window fires at end of input (bounded input only), fixed processing-time
//! windows fire when their end passes (see [`crate::window`]). Combines fold values as they
//! arrive, so they hold one accumulator per key rather than every value.

use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::element::{debug_text, downcast, panic_message, Elem, Element};
use crate::error::Error;
use crate::exec::{ElementResult, Exec, ExecContext, Failure, Outputs, ProcessError};
use crate::graph::{Accounting, CollectionId, StepExec, StepKind, StepSpec};
use crate::pcollection::PCollection;
use crate::shuffle::{JsonKvCodec, ShuffleCodec};
use crate::transforms::keyed_state::KeyedState;
use crate::window::Window;

/// Bound for grouping keys: hashable, comparable, and serialisable so a distributed runner can
/// shuffle by key.
pub trait Key: Elem + Hash + Eq + Serialize + DeserializeOwned {}
impl<T: Elem + Hash + Eq + Serialize + DeserializeOwned> Key for T {}

/// Bound for values that cross a shuffle.
pub trait ShuffleValue: Elem + Serialize + DeserializeOwned {}
impl<T: Elem + Serialize + DeserializeOwned> ShuffleValue for T {}

type Fold<A, V> = Arc<dyn Fn(A, V) -> A + Send + Sync>;

/// Folds `(K, V)` elements into one `A` per key and window; emits `(K, A)` when a window fires.
struct FoldExec<K, V, A> {
    state: KeyedState<K, A>,
    init: A,
    fold: Fold<A, V>,
    /// Whether `fold` is user code that may panic (then the element is kept for the error).
    user_code: bool,
    step: String,
}

impl<K: Key, V: Elem, A: Elem> FoldExec<K, V, A> {
    fn emit(out: &mut Outputs, fired: Vec<(Window, std::collections::HashMap<K, A>)>) {
        for (window, groups) in fired {
            for kv in groups {
                out.push_in(0, Box::new(kv), window);
            }
        }
    }
}

impl<K: Key, V: Elem, A: Elem> Exec for FoldExec<K, V, A> {
    fn process(&mut self, _port: usize, elem: Element, out: &mut Outputs) -> ElementResult {
        let (k, v): (K, V) = downcast(elem.value).map_err(|message| ProcessError::Step {
            phase: "process",
            message,
        })?;
        let shown = self.user_code.then(|| debug_text(&(&k, &v)));
        let init = &self.init;
        let slot = self.state.entry(elem.window, k, || init.clone());
        let fold = &self.fold;
        // Move the accumulator out (leaving a cheap `init`) rather than cloning it per value.
        let acc = std::mem::replace(slot, init.clone());
        match catch_unwind(AssertUnwindSafe(|| fold(acc, v))) {
            Ok(next) => *slot = next,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                return Err(ProcessError::Element(Failure {
                    dead_letter: Box::new(()),
                    element: shown.unwrap_or_default(),
                    message: format!("{message} (in `{}`)", self.step),
                }));
            }
        }
        let ready = self.state.take_ready();
        Self::emit(out, ready);
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.state.next_deadline()
    }

    fn on_deadline(&mut self, out: &mut Outputs) -> Result<(), String> {
        let ready = self.state.take_ready();
        Self::emit(out, ready);
        Ok(())
    }

    fn end_of_input(&mut self, out: &mut Outputs) -> Result<(), String> {
        let all = self.state.take_all();
        Self::emit(out, all);
        Ok(())
    }
}

/// Checks that grouping `input` can ever emit; records a build error otherwise.
pub(crate) fn check_groupable(pipeline: &crate::Pipeline, step: &str, inputs: &[CollectionId]) {
    let mut g = pipeline.graph();
    let stuck = inputs.iter().any(|&c| {
        g.collections
            .get(c)
            .is_some_and(|col| !col.bounded && col.windowing.is_none())
    });
    if stuck {
        g.build_errors.push(Error::UnboundedGroupWithoutWindow {
            step: step.to_string(),
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
        let factory = Arc::new(move |ctx: &ExecContext| -> Box<dyn Exec> {
            Box::new(FoldExec::<K, V, A> {
                state: KeyedState::new(ctx.windowing.clone()),
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
            single_instance: true,
            accounting: Accounting::Variable,
            exec: StepExec::Worker(factory),
            shuffle: Some(vec![
                Arc::new(JsonKvCodec::<K, V>::new()) as Arc<dyn ShuffleCodec>
            ]),
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
