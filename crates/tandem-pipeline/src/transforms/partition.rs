//! `partition`: split one collection into N by a function, and the deterministic
//! ratio-by-key-hash split used for A/B tests.

use std::hash::Hash;
use std::sync::Arc;

use crate::element::Elem;
use crate::error::{BoxError, Error};
use crate::graph::Accounting;
use crate::hash::stable_hash;
use crate::pcollection::{Applied, PCollection};
use crate::transforms::par_do::{apply_dofn, DoFn, Emitter, OutputTag};

type PartitionFn<T> = Arc<dyn Fn(&T, usize) -> usize + Send + Sync>;

struct PartitionDoFn<T> {
    arms: usize,
    pick: PartitionFn<T>,
    tags: Arc<Vec<OutputTag<T>>>,
}

impl<T> Clone for PartitionDoFn<T> {
    fn clone(&self) -> Self {
        Self {
            arms: self.arms,
            pick: Arc::clone(&self.pick),
            tags: Arc::clone(&self.tags),
        }
    }
}

impl<T: Elem> DoFn for PartitionDoFn<T> {
    type In = T;
    type Out = T;

    fn process(&mut self, element: T, out: &mut Emitter<'_, T, T>) -> Result<(), BoxError> {
        let arm = (self.pick)(&element, self.arms);
        match arm {
            0 => out.emit(element),
            i if i < self.arms => out.output(&self.tags[i - 1], element),
            i => {
                return Err(format!(
                    "partition function returned arm {i}, but there are only {} arms",
                    self.arms
                )
                .into())
            }
        }
        Ok(())
    }
}

fn arm_tag<T>(i: usize) -> OutputTag<T> {
    OutputTag::new(format!("arm{i}"))
}

impl<T: Elem> PCollection<T> {
    /// Splits into `arms` collections: each element goes to arm `pick(&element, arms)`.
    /// Arm 0 is the step's `main` output, arm `i` its output named `arm{i}`.
    /// An out-of-range arm fails the element (and so the run). `arms == 0` is treated as 1.
    pub fn partition<F>(&self, name: impl Into<String>, arms: usize, pick: F) -> Vec<PCollection<T>>
    where
        F: Fn(&T, usize) -> usize + Send + Sync + 'static,
    {
        self.partition_applied(name.into(), arms.max(1), Arc::new(pick))
            .1
    }

    fn partition_applied(
        &self,
        name: String,
        arms: usize,
        pick: PartitionFn<T>,
    ) -> (Applied<T, T>, Vec<PCollection<T>>) {
        let tags: Vec<OutputTag<T>> = (1..arms).map(arm_tag).collect();
        let dofn = PartitionDoFn {
            arms,
            pick,
            tags: Arc::new(tags.clone()),
        };
        let applied = apply_dofn(self, name, dofn, Accounting::Exact);
        let mut out = vec![applied.output()];
        out.extend(tags.iter().map(|t| applied.side_output(t)));
        (applied, out)
    }
}

impl<K: Elem + Hash, V: Elem> PCollection<(K, V)> {
    /// Splits keyed elements into arms in proportion to `weights`, by a stable hash of the key:
    /// the same key always lands in the same arm, across runs and machines. `[50, 50]` is an
    /// even A/B split; `[90, 10]` sends about a tenth of the keys to the second arm.
    ///
    /// Empty or all-zero weights are recorded as a build error that `run` reports, and yield
    /// no arms.
    pub fn partition_by_key_hash(
        &self,
        name: impl Into<String>,
        weights: &[u32],
    ) -> Vec<PCollection<(K, V)>> {
        let name = name.into();
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            self.pipeline.graph().build_errors.push(Error::InvalidGraph {
                reason: format!("partition_by_key_hash `{name}`: weights {weights:?} must not be empty or all zero"),
            });
            return Vec::new();
        }
        let cumulative: Vec<u64> = weights
            .iter()
            .scan(0u64, |acc, &w| {
                *acc += u64::from(w);
                Some(*acc)
            })
            .collect();
        let pick = move |(k, _): &(K, V), _arms: usize| {
            let bucket = stable_hash(k) % total;
            cumulative.iter().position(|&c| bucket < c).unwrap_or(0)
        };
        self.partition_applied(name, weights.len(), Arc::new(pick))
            .1
    }
}
